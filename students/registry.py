"""The student registry: a plain dict of architecture name -> factory, filled by a decorator.

Every factory takes the same keyword arguments (num_classes, in_channels, input_size, width) plus
architecture-specific options, so a config can switch students by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

StudentFactory = Callable[..., nn.Module]


@dataclass(frozen=True)
class StudentSpec:
    name: str
    factory: StudentFactory
    summary: str


STUDENTS: dict[str, StudentSpec] = {}


def register_student(name: str, summary: str) -> Callable[[StudentFactory], StudentFactory]:
    def decorate(factory: StudentFactory) -> StudentFactory:
        if name in STUDENTS:
            raise ValueError(f"student {name!r} registered twice")
        STUDENTS[name] = StudentSpec(name, factory, summary)
        return factory

    return decorate


def build_student(
    name: str,
    *,
    num_classes: int,
    in_channels: int,
    input_size: int,
    width: float = 1.0,
    options: dict[str, Any] | None = None,
) -> nn.Module:
    import edgedistill.students  # noqa: F401  (make sure every architecture is registered)

    try:
        spec = STUDENTS[name]
    except KeyError:
        raise KeyError(f"unknown student {name!r} (known: {', '.join(sorted(STUDENTS))})") from None
    try:
        return spec.factory(
            num_classes=num_classes, in_channels=in_channels, input_size=input_size, width=width, **(options or {})
        )
    except TypeError as exc:
        raise ValueError(f"student {name!r}: bad options ({exc})") from None
