"""Loading a config file: paths against its folder, and every failure one ConfigError line naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edgedistill.errors import ConfigError
from edgedistill.pipeline.config import ProjectConfig, load_config
from edgedistill.pipeline.config.example import section_model
from edgedistill.pipeline.config.loading import PATH_FIELDS


def test_relative_paths_resolve_against_the_config_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    cfg_file = tmp_path / "sub" / "edgedistill.yaml"
    cfg_file.write_text(
        f"teacher: {{factory: 'm:f', checkpoint: ckpt/../ckpt/t.pt}}\ndata: {{npz: {tmp_path / 'd.npz'}}}\n"
    )
    cfg = load_config(cfg_file)
    assert cfg.teacher.checkpoint == tmp_path / "sub" / "ckpt" / "t.pt"
    assert cfg.data.npz == tmp_path / "d.npz"  # absolute: taken as written
    cfg_file.write_text("teacher: {logits: out/logits.npy}\ndata: {npz: d.npz, unlabeled: pool}\n")
    cfg = load_config(cfg_file)
    assert (
        cfg.teacher.logits == tmp_path / "sub" / "out" / "logits.npy"
        and cfg.data.unlabeled == tmp_path / "sub" / "pool"
    )


@pytest.mark.parametrize(
    "field, value",
    [
        ("data.npz", "../d.npz"),
        ("teacher.checkpoint", "ckpt/../../../etc/passwd"),
        ("data.image_folder", ".."),
        ("teacher.onnx", "a/../../b.onnx"),
    ],
)
def test_relative_paths_may_not_escape_the_config_folder(tmp_path, field, value):
    section, key = field.split(".")
    raw = {"teacher": {"factory": "m:f"}, "data": {"bundled": "mnist"}}
    raw[section] = {key: value}
    (tmp_path / "sub").mkdir()
    cfg_file = tmp_path / "sub" / "edgedistill.yaml"
    cfg_file.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as err:
        load_config(cfg_file)
    assert str(err.value) == (
        f"{cfg_file}: {field}: {value!r} points outside the config's folder {tmp_path / 'sub'}; use an absolute path for files elsewhere"
    )


def test_unreadable_files_fail_with_their_name(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("teacher: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: not valid YAML at line \d"):
        load_config(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n")
    with pytest.raises(ConfigError, match="must be a YAML mapping"):
        load_config(scalar)


def test_every_path_field_of_the_schema_is_resolved():
    """A new file field must be added to PATH_FIELDS, or a relative path in it would be read from the cwd."""
    found = {}
    for name, field in ProjectConfig.model_fields.items():
        model = section_model(field.annotation)
        if model is not None:
            keys = tuple(
                k
                for k, f in model.model_fields.items()
                if Path in (f.annotation, *getattr(f.annotation, "__args__", ()))
            )
            if keys:
                found[name] = keys
    assert found == PATH_FIELDS
