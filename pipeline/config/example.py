"""The commented example config that `edgedistill init` writes, generated from the schema.

Every field of every model is written with its description (and its model's docstring) as comments above
it: set, to the example's value or the default, or, where it is off by default, commented out with the
first of the field's `examples`; an optional section is written out whole, commented. So the example cannot
leave a field out or state a stale default, and loading it gives `default_config()`.
"""

from __future__ import annotations

import textwrap
import types
import typing
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from edgedistill.pipeline.config.schema import ProjectConfig

# what the example sets beyond the defaults: the bundled MNIST digits, 10% of them labelled (the other 90% a
# transfer set the teacher labels, where distillation pays), and their bundled teacher
EXAMPLE_PROJECT: dict[str, Any] = {
    "name": "mnist-example",
    "teacher": {"bundled": "mnist-resnet8"},
    "data": {"bundled": "mnist", "labeled_fraction": 0.1},
}

HEADER = (
    "edgedistill project config, generated from the schema (pipeline/config/schema.py in edgedistill). Relative "
    "paths are resolved against this file's folder. A commented-out key is off or at its default; uncomment it "
    "to set it."
)
WIDTH = 100  # of a comment's text
INDENT = "  "


def section_model(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds (`X` or `X | None`), or None for a scalar, list or dict field."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return section_model(args[0])
    return None


def alternative_section(annotation: Any) -> type[BaseModel] | None:
    """The model of a field that holds a plain value or a section (`bool | X`), else None."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        if len(models) == 1 and len(args) > 1:
            return models[0]
    return None


def plain(value: Any) -> Any:
    """A field value as YAML writes it: models, tuples and paths as plain mappings, lists and strings."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def inline(value: Any) -> str:
    """A value as one line of YAML (flow style)."""
    text = yaml.safe_dump(plain(value), default_flow_style=True, width=float("inf"), sort_keys=False)
    return text.removesuffix("\n...\n").strip()


def _comment(text: str, indent: str) -> list[str]:
    return [f"{indent}# {line}" for line in textwrap.wrap(" ".join(text.split()), WIDTH, break_on_hyphens=False)]


def _field_lines(name: str, field: FieldInfo, values: dict[str, Any], indent: str, where: str) -> list[str]:
    path = f"{where}.{name}"
    if not field.description:
        raise TypeError(f"{path}: give the field a description (it is the example config's comment)")
    sub = section_model(field.annotation)
    lines = _comment(field.description, indent)
    doc = sub.__dict__.get("__doc__") if sub is not None else None
    if doc:
        lines += _comment(doc, indent)
    default = None if field.is_required() else field.get_default(call_default_factory=True)
    given = values.get(name)
    if given is not None and given != plain(default):  # the example's own value (a default is written as one)
        value, on = given, True
    elif default is not None and not (field.examples and default in ([], {})):  # empty: show an example
        value, on = default, True
    elif field.examples:
        value, on = field.examples[0], False
    elif sub is not None:  # an optional section, off by default: written out whole, commented
        body = render_fields(sub, {}, indent + INDENT, path)
        return lines + [f"{indent}# {name}:"] + [f"{indent}# {line[len(indent) :]}" for line in body]
    else:
        raise TypeError(f"{path}: give the field a default or `examples` (the example config shows one)")
    if on and sub is not None:
        return lines + [f"{indent}{name}:"] + render_fields(sub, plain(value), indent + INDENT, path)
    lines.append(f"{indent}{'' if on else '# '}{name}: {inline(value)}")
    alternative = alternative_section(field.annotation)
    if alternative is not None and not isinstance(plain(value), dict):  # the section it may be instead, commented
        shown = plain(field.examples[0]) if field.examples else {}
        body = render_fields(alternative, shown, indent + INDENT, path)
        lines += [f"{indent}# or as a section:", f"{indent}# {name}:"]
        lines += [f"{indent}# {line[len(indent) :]}" for line in body]
    return lines


def render_fields(model: type[BaseModel], values: dict[str, Any], indent: str = "", where: str = "") -> list[str]:
    """The lines of a model's fields, the ones `values` names set to its values, the others to their defaults."""
    lines: list[str] = []
    for name, field in model.model_fields.items():
        lines += _field_lines(name, field, values, indent, where or model.__name__)
    return lines


def render_example(model: type[BaseModel] = ProjectConfig, values: dict[str, Any] | None = None) -> str:
    """The example config: a header, then each top-level field, a blank line between them."""
    values = EXAMPLE_PROJECT if values is None else values
    blocks = ["\n".join(_comment(HEADER, ""))]
    blocks += [
        "\n".join(_field_lines(name, field, values, "", model.__name__)) for name, field in model.model_fields.items()
    ]
    return "\n\n".join(blocks) + "\n"


EXAMPLE_CONFIG = render_example()
