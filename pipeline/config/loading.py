"""Reading a project config: YAML in, a validated ProjectConfig out, or one ConfigError line.

A bad key or value fails at load time with the dotted path of the offending field.
Relative paths are resolved against the folder of the config file.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from edgedistill.errors import ConfigError, one_line
from edgedistill.pipeline.config.example import EXAMPLE_PROJECT
from edgedistill.pipeline.config.schema import ProjectConfig

# the fields that name files, per section: relative ones are taken from the config's folder
PATH_FIELDS: dict[str, tuple[str, ...]] = {
    "teacher": ("checkpoint", "torchscript", "exported", "onnx", "logits", "labels"),
    "data": ("npz", "image_folder", "unlabeled"),
}


def format_validation_error(source: str, err: ValidationError) -> str:
    first = err.errors()[0]
    # a key may be any YAML string: quote the odd ones (empty, newlines, control characters) so the line stays one line
    loc = ".".join(str(p) if str(p) and str(p).isprintable() else repr(p) for p in first["loc"]) or "(top level)"
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    elif isinstance(first.get("input"), (str, int, float)) and len(repr(first["input"])) <= 60:
        msg += f", got {first['input']!r}"  # the value as read, so a typo is seen at once
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return one_line(f"{source}: {loc}: {msg}{more}")


def _resolve_paths(raw: dict, base: Path, source: str) -> dict:
    """Make relative file paths in the raw config relative to the config's folder.

    A relative path may not climb out of that folder ('../../etc/x'): a config handed over from
    elsewhere reads only what sits beside it. Files elsewhere are named by absolute (or ~) paths.
    """
    for section, keys in PATH_FIELDS.items():
        part = raw.get(section)
        if not isinstance(part, dict):
            continue
        part = raw[section] = dict(part)
        for key in keys:
            value = part.get(key)
            if not isinstance(value, str):
                continue
            path = Path(value).expanduser()
            if path.is_absolute():
                part[key] = str(path)
                continue
            inside = Path(os.path.normpath(base / path))
            if not inside.is_relative_to(base):
                raise ConfigError(
                    f"{source}: {section}.{key}: {value!r} points outside the config's folder {base}; use an absolute path for files elsewhere"
                )
            part[key] = str(inside)
    return raw


def config_from_dict(raw: Any, source: str = "<config>", base: Path | None = None) -> ProjectConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the config must be a YAML mapping of sections")
    if base is not None:
        raw = _resolve_paths(dict(raw), base, source)
    try:
        config = ProjectConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(format_validation_error(source, err)) from None
    if base is not None and config.teacher.factory is not None and str(base) not in sys.path:
        # a factory module beside the config imports however the CLI was started; appended, so a file there named
        # like an installed package (onnx.py) does not shadow it
        sys.path.append(str(base))
    return config


def load_config(path: Path) -> ProjectConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config ({exc})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    return config_from_dict(raw, source=str(path), base=path.resolve().parent)


def default_config() -> ProjectConfig:
    """The embedded example: the bundled MNIST digits and the bundled ResNet-8 teacher (what `init` writes)."""
    return config_from_dict(EXAMPLE_PROJECT)
