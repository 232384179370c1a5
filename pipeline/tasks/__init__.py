"""Tasks: what is task-specific (metrics and their names, agreement, the int8 drop, the teacher's output check,
the manifest's output description, the budget search's score, the console columns) behind one interface.

A task is one module in this package that subclasses `Task` and registers itself with `@register_task`;
importing the package imports every module in it, so a new module is all a new task needs to be found.
"""

import importlib
import pkgutil

from edgedistill.pipeline.tasks.base import TASKS, Column, Task, get_task, register_task

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["TASKS", "Column", "Task", "get_task", "register_task"]
