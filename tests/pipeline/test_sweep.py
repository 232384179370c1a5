from __future__ import annotations

import json

import pytest
import yaml

from edgedistill.errors import ConfigError
from edgedistill.pipeline.config import EXAMPLE_CONFIG, load_config
from edgedistill.pipeline.sweep import write_best
from tests.conftest import run_cli, tiny_config, write_config


def test_write_best_keeps_comments_and_every_other_key(tmp_path):
    path = tmp_path / "edgedistill.yaml"
    path.write_text(EXAMPLE_CONFIG)
    write_best(path, 8.0, 0.5)
    text = path.read_text()
    assert "  temperature: 8\n" in text and "  alpha: 0.5\n" in text
    assert (
        text.replace("temperature: 8\n", "temperature: 4.0\n").replace("alpha: 0.5\n", "alpha: 0.9\n") == EXAMPLE_CONFIG
    )
    cfg = load_config(path)
    assert (cfg.distillation.temperature, cfg.distillation.alpha, cfg.distillation.epochs) == (8.0, 0.5, 15)


def test_write_best_adds_missing_keys_or_section(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text(
        "teacher: {bundled: mnist-resnet8}\ndata: {bundled: mnist}\ndistillation:\n  epochs: 3  # short\ntargets: [rpi4]\n"
    )
    write_best(path, 2.0, 0.7)
    raw = yaml.safe_load(path.read_text())
    assert raw["distillation"] == {"temperature": 2.0, "alpha": 0.7, "epochs": 3} and raw["targets"] == ["rpi4"]
    assert "# short" in path.read_text()
    path.write_text("teacher: {bundled: mnist-resnet8}\ndata: {bundled: mnist}\n")
    write_best(path, 16.0, 0.9)
    assert yaml.safe_load(path.read_text())["distillation"] == {"temperature": 16.0, "alpha": 0.9}
    flow = tmp_path / "flow.yaml"
    flow.write_text("teacher: {bundled: mnist-resnet8}\ndata: {bundled: mnist}\ndistillation: {epochs: 3}\n")
    with pytest.raises(ConfigError, match="flow.yaml: write the distillation section as a block"):
        write_best(flow, 2.0, 0.5)


def test_sweep_command_writes_the_table_and_the_best_pair(tmp_path, digits_npz, digits_teacher):
    cfg = tiny_config(digits_npz, digits_teacher)
    cfg["distillation"].update(epochs=2)
    config = write_config(tmp_path, cfg)
    proc = run_cli("sweep", "--temperatures", "1,4", "--alphas", "0.9", "--write-best", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    table = json.loads((tmp_path / "sweep.json").read_text())
    assert [(p["temperature"], p["alpha"]) for p in table["points"]] == [(1.0, 0.9), (4.0, 0.9)]
    assert all(p["val_accuracy"] > 30 and not p["cached"] for p in table["points"])
    best = table["best"]
    assert best["val_accuracy"] == max(p["val_accuracy"] for p in table["points"])
    assert load_config(config).distillation.temperature == best["temperature"]
    assert "best: temperature" in proc.stdout
    again = run_cli(
        "sweep", "--temperatures", "1,4", "--alphas", "0.9", "--quiet", "--json", "again.json", cwd=tmp_path
    )
    assert again.returncode == 0 and all(
        p["cached"] for p in json.loads((tmp_path / "again.json").read_text())["points"]
    )
    bad = run_cli("sweep", "--temperatures", "hot", cwd=tmp_path)
    assert bad.returncode != 0 and "comma-separated list of numbers" in bad.stderr
