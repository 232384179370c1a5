"""A teacher from another framework (ONNX), TorchScript, or behind an API (precomputed logits)
distils a student through `edgedistill build`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from edgedistill.pipeline.config import DataConfig
from edgedistill.pipeline.data.bundle import load_data
from edgedistill.pipeline.data.transforms import preprocess
from edgedistill.students.resnet import resnet8
from tests.conftest import TEACHER_KWARGS, run_cli, tiny_config, write_config


def _save_onnx(model, path, _npz):
    from edgedistill.export.onnx_export import export_onnx

    export_onnx(model, (1, 8, 8), path)


def _save_torchscript(model, path, _npz):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(model).save(str(path))


def _save_logits(model, path, npz):
    """What a team with an API teacher does: its logits for every sample of the data file, in file order."""
    with np.load(npz) as f:
        x = f["x"]
    data = load_data(DataConfig(npz=npz))
    with torch.no_grad():
        np.save(path, model(torch.from_numpy(preprocess(x[..., None], data))).numpy())


@pytest.mark.parametrize(
    "source, suffix, save",
    [("onnx", "onnx", _save_onnx), ("torchscript", "ts", _save_torchscript), ("logits", "npy", _save_logits)],
)
def test_build_distils_from_the_teacher(source, suffix, save, tmp_path, digits_npz, digits_teacher):
    model = resnet8(**TEACHER_KWARGS)
    model.load_state_dict(torch.load(digits_teacher, weights_only=True))
    save(model.eval(), tmp_path / f"teacher.{suffix}", digits_npz)
    cfg = tiny_config(digits_npz, digits_teacher)
    cfg["teacher"] = {source: f"teacher.{suffix}"}  # relative to the config file
    cfg["export"] = {"formats": ["tflite_int8"]}
    cfg["benchmark"] = {"enabled": False}
    write_config(tmp_path, cfg)
    proc = run_cli("build", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "build" / "rpi4" / "report.json").read_text())
    assert report["teacher"]["accuracy"] > 90 and report["student"]["accuracy"] > 85
    assert report["teacher"]["teacher_val_accuracy"] > 90
    assert report["teacher"]["params"] in (None, sum(p.numel() for p in model.parameters()))
    assert report["artifacts"]["tflite_int8"]["int8_gate"].startswith("passed")
