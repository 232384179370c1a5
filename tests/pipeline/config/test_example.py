"""The example config `edgedistill init` writes is generated from the schema: these catch what generation cannot."""

from __future__ import annotations

import re
import subprocess
import sys
import typing
from typing import Annotated

import pytest
import yaml
from pydantic import BaseModel, Field, TypeAdapter

from edgedistill.pipeline.config import EXAMPLE_CONFIG, EXAMPLE_PROJECT, ProjectConfig, default_config, load_config
from edgedistill.pipeline.config.example import render_example, section_model


def models_in(annotation) -> set[type[BaseModel]]:
    """Every model a field's type holds: itself, X | None, list[X], dict[str, X]."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {annotation}
    return set().union(*(models_in(a) for a in typing.get_args(annotation)))


def all_models(root: type[BaseModel] = ProjectConfig) -> set[type[BaseModel]]:
    found, todo = set(), [root]
    while todo:
        model = todo.pop()
        if model not in found:
            found.add(model)
            todo += [m for f in model.model_fields.values() for m in models_in(f.annotation)]
    return found


def uncomment(text: str, key: str, section: str = "") -> str:
    """Remove one level of '# ' from the line `# {key}:` (in `section`, when given) and, for a commented section,
    from its body."""
    lines = text.split("\n")
    indent = "  " if section else ""
    first = lines.index(f"{section}:") if section else 0
    start = next(i for i in range(first, len(lines)) if lines[i].startswith(f"{indent}# {key}:"))
    lines[start] = indent + lines[start][len(indent) + 2 :]
    i = start + 1
    while i < len(lines) and lines[i].startswith(f"{indent}#   "):  # the section's body, one level deeper
        lines[i] = indent + lines[i][len(indent) + 2 :]
        i += 1
    return "\n".join(lines)


def load_text(tmp_path, text: str) -> ProjectConfig:
    path = tmp_path / "edgedistill.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def test_the_example_loads_as_the_default_config(tmp_path):
    loaded = load_text(tmp_path, EXAMPLE_CONFIG)
    # every value it states is the schema's default, but for the few EXAMPLE_PROJECT sets
    assert loaded == default_config() == ProjectConfig.model_validate(EXAMPLE_PROJECT)
    assert EXAMPLE_CONFIG.count("\n# ") > 10 and "  temperature: 4.0\n" in EXAMPLE_CONFIG


def test_every_field_of_every_model_is_in_the_example():
    models = all_models()
    assert {"HintConfig", "RelationConfig", "NormalizeConfig", "SplitConfig", "PruneConfig"} <= {
        m.__name__ for m in models
    }
    missing = [
        f"{m.__name__}.{name}"
        for m in models
        for name in m.model_fields
        if not re.search(rf"(^|[\s{{,]){name}:", EXAMPLE_CONFIG, re.MULTILINE)
    ]
    assert missing == []


def test_every_field_is_described_and_every_example_is_valid():
    for model in all_models():
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name}"
            adapter = TypeAdapter(
                Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
            )
            for example in field.examples or ():
                adapter.validate_python(
                    yaml.safe_load(yaml.safe_dump(example if not isinstance(example, tuple) else list(example)))
                )


@pytest.mark.parametrize(
    "section, key, check",
    [
        ("student", "input_size", lambda c: c.student.input_size == 28),
        ("data", "normalize", lambda c: c.data.normalize.std == [0.3081]),
        ("quantization", "qat_lr", lambda c: c.quantization.qat_lr == 0.0005),
        ("distillation", "hints", lambda c: c.distillation.hints[0].student == "blocks.2"),
        (
            "distillation",
            "relation",
            lambda c: (c.distillation.relation.angle, c.distillation.relation.teacher) == (50, None),
        ),
    ],
)
def test_a_commented_out_key_uncommented_sets_it(tmp_path, section, key, check):
    assert check(load_text(tmp_path, uncomment(EXAMPLE_CONFIG, key, section)))


def test_the_commented_prune_section_uncommented_with_a_target_loads(tmp_path):
    text = uncomment(uncomment(EXAMPLE_CONFIG, "prune"), "ratio", "prune")
    prune = load_text(tmp_path, text).prune
    assert prune is not None and (prune.ratio, prune.importance, prune.round_to) == (0.5, "l2", 8)


def test_a_field_without_description_or_example_cannot_be_rendered():
    class NoDescription(BaseModel):
        x: int = 1

    class NoExample(BaseModel):
        x: int | None = Field(None, description="off by default, but how would one set it?")

    with pytest.raises(TypeError, match=r"NoDescription\.x: give the field a description"):
        render_example(NoDescription, {})
    with pytest.raises(TypeError, match=r"NoExample\.x: give the field a default or `examples`"):
        render_example(NoExample, {})
    assert section_model(int | None) is None


def test_rendering_at_import_validates_nothing():
    """The example is rendered when the config is imported: no registry (and so no torch) may come with it."""
    code = "import sys, edgedistill.pipeline.config; print(sorted(m for m in ('torch', 'edgedistill.students.registry') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
