"""Student (and example teacher) architectures and their registry. May import only the ground floor."""

from edgedistill.students import dscnn, mobilenetv2, mobilenetv3, resnet  # noqa: F401  (fill the registry)
from edgedistill.students.registry import STUDENTS, build_student, register_student

__all__ = ["STUDENTS", "build_student", "register_student"]
