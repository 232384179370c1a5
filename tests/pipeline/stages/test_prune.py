"""prune: channels really removed, KD fine-tuning recovers, the pruned student reloads from its saved form."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from edgedistill.contracts import StudentArch
from edgedistill.errors import ConfigError
from edgedistill.pipeline.config import DataConfig, PruneConfig
from edgedistill.pipeline.data.bundle import load_data
from edgedistill.pipeline.data.transforms import preprocess
from edgedistill.pipeline.stages import run_stage
from edgedistill.pipeline.stages.prune import PruneStage
from edgedistill.pipeline.student import load_student, load_student_files
from edgedistill.progress import quiet
from edgedistill.students.profile import profile_model
from tests.conftest import run_cli, tiny_config, write_config
from tests.pipeline.stages.conftest import RECIPE


def _convs(model):
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]


def test_half_the_channels_go_and_kd_fine_tuning_recovers(distilled):
    data, teacher, cache, student = distilled
    out = run_stage(
        PruneStage(data, teacher, student, PruneConfig(ratio=0.5, finetune_epochs=4, steps=2), RECIPE, quiet()), cache
    )
    p = out.result.pruning
    assert p is not None and [s.step for s in p.steps] == [1, 2] and all(s.touched for s in p.steps)
    assert out.result.macs <= 0.6 * p.before.macs and out.result.params < p.before.params
    pruned = load_student(out)
    assert all(
        c.out_channels % 8 == 0 and c.out_channels <= 16 for c in _convs(pruned)
    )  # 32 -> 16, multiples of round_to
    assert pruned.classifier.out_features == 10  # the classifier keeps every class
    assert profile_model(pruned, (1, 8, 8)).macs == out.result.macs
    assert p.steps[-1].val_accuracy >= (p.steps[-1].val_accuracy_before_finetune or 0)
    assert out.result.val_accuracy > p.before.val_accuracy - 6  # tiny model on 8x8 digits, 4 epochs a step


def test_budget_in_macs_is_met_by_searching_the_ratio(distilled):
    data, teacher, cache, student = distilled
    out = run_stage(
        PruneStage(data, teacher, student, PruneConfig(keep_macs=0.5, finetune_epochs=0), RECIPE, quiet()), cache
    )
    before = out.result.pruning.before.macs
    assert out.result.macs <= 0.5 * before and 0 < out.result.pruning.ratio < 0.95


def test_a_kept_layer_that_does_not_exist_is_named(distilled):
    data, teacher, cache, student = distilled
    with pytest.raises(ConfigError, match=r"prune.keep_layers\[0\]: no layer 'features.99'"):
        run_stage(
            PruneStage(data, teacher, student, PruneConfig(ratio=0.3, keep_layers=["features.99"]), RECIPE, quiet()),
            cache,
        )


def test_pruned_build_reloads_from_its_saved_form_and_re_exports_the_same_model(tmp_path, digits_npz, digits_teacher):
    from edgedistill.export.runtimes import TFLiteModel
    from edgedistill.export.tflite_export import export_tflite_fp32

    cfg = tiny_config(digits_npz, digits_teacher)
    cfg["student"]["options"]["channels"] = 32
    cfg["prune"] = {"ratio": 0.5, "finetune_epochs": 3}
    cfg["export"] = {"formats": ["tflite_fp32", "tflite_int8"]}
    cfg["benchmark"] = {"enabled": False}
    write_config(tmp_path, cfg)
    proc = run_cli("build", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "build" / "rpi4"
    report = json.loads((out / "report.json").read_text())
    assert report["pruning"]["steps"][0]["macs"] < report["pruning"]["before"]["macs"]
    assert report["artifacts"]["tflite_int8"]["int8_gate"].startswith("passed")
    assert "pruning.json" in json.loads((out / "manifest.json").read_text())["files"]
    # a fresh process knows only the files: arch from the report, weights, pruning history
    model = load_student_files(
        StudentArch.model_validate(report["student"]["arch"]), out / "student.pt", out / "pruning.json"
    )
    export_tflite_fp32(model, (1, 8, 8), tmp_path / "again.tflite", tmp_path / "log")
    x = preprocess(load_data(DataConfig(npz=digits_npz)).test.x[:32], load_data(DataConfig(npz=digits_npz)))
    first, again = TFLiteModel(out / "model_fp32.tflite").predict(x), TFLiteModel(tmp_path / "again.tflite").predict(x)
    assert np.allclose(first, again, atol=1e-5)
    with torch.no_grad():
        assert np.allclose(model(torch.from_numpy(x)).numpy(), first, atol=1e-4)


def test_unstructured_pruning_zeros_weights_keeps_them_zero_through_fine_tuning_and_says_what_it_buys(distilled):
    data, teacher, cache, student = distilled
    out = run_stage(
        PruneStage(data, teacher, student, PruneConfig(unstructured=0.6, finetune_epochs=2), RECIPE, quiet()), cache
    )
    u = out.result.pruning.unstructured
    assert "pruning" not in out.files and out.result.pruning.steps == []
    assert out.result.macs == out.result.pruning.before.macs  # dense shapes: same MACs
    assert u is not None and u.weight_sparsity == pytest.approx(0.6, abs=0.01) and "no faster on a CPU" in u.note
    model = load_student(out)
    weights = torch.cat([m.weight.flatten() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))])
    assert float((weights == 0).float().mean()) == pytest.approx(u.weight_sparsity, abs=1e-4)
    assert u.val_accuracy > 50
