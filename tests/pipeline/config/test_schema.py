"""The schema: defaults, and every bad key or value named by its dotted path in one line."""

from __future__ import annotations

import pytest

from edgedistill.errors import ConfigError
from edgedistill.pipeline.config import config_from_dict, default_config

BASE = {"teacher": {"bundled": "mnist-resnet8"}, "data": {"bundled": "mnist"}}


def _error(raw: dict) -> str:
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw, source="proj.yaml")
    return str(info.value)


def test_defaults_fill_every_section():
    cfg = default_config()
    assert cfg.student.name == "dscnn" and cfg.distillation.temperature == 4.0 and cfg.distillation.alpha == 0.9
    assert cfg.export.formats == [
        "onnx",
        "onnx_int8",
        "tflite_fp32",
        "tflite_fp16",
        "tflite_dynamic_int8",
        "tflite_int8",
    ]
    assert (
        cfg.quantization.io_dtype == "int8" and cfg.quantization.onnx_calibration == "auto" and cfg.targets == ["rpi4"]
    )


@pytest.mark.parametrize(
    "patch, path, message",
    [
        ({"distillation": {"temperature": 0}}, "distillation.temperature", "greater than 0"),
        ({"quantization": {"io_dtype": "int16"}}, "quantization.io_dtype", "'int8', 'uint8' or 'float32'"),
        (
            {"quantization": {"onnx_calibration": "kl"}},
            "quantization.onnx_calibration",
            "'auto', 'minmax', 'percentile' or 'entropy'",
        ),
        ({"export": {"formats": ["tflite_int4"]}}, "export.formats.0", "'onnx', 'onnx_int8'"),
        ({"distillation": {"alpha": -0.1}}, "distillation.alpha", "greater than or equal to 0"),
        ({"distillation": {"epochs": -3}}, "distillation.epochs", "greater than or equal to 1"),
        ({"distillation": {"epochs": "many"}}, "distillation.epochs", "valid integer"),
        ({"distillation": {"loss": "magic"}}, "distillation.loss", "unknown loss 'magic'"),
        ({"student": {"name": "vgg"}}, "student.name", "unknown student 'vgg'"),
        ({"student": {"widht": 2}}, "student.widht", "unknown key"),
        ({"export": {"formats": ["coreml"]}}, "export.formats.0", "Input should be"),
        ({"export": {"formats": []}}, "export.formats", "at least one format"),
        (
            {"quantization": {"calibration_samples": 0}},
            "quantization.calibration_samples",
            "greater than or equal to 1",
        ),
        ({"targets": ["rpi4", "toaster"]}, "targets", "unknown target 'toaster'"),
        ({"teacher": {"factory": "nocolon"}}, "teacher.factory", "package.module:callable"),
        ({"teacher": {"factory": "a:b"}}, "teacher", "needs a 'checkpoint'"),
        ({"teacher": {"bundled": "mnist-resnet8", "torchscript": "t.pt"}}, "teacher", "exactly one"),
        ({"data": {"npz": "a.npz", "bundled": "mnist"}}, "data", "exactly one"),
        ({"data": {"bundled": "mnist", "normalize": {"mean": [0.1], "std": [0]}}}, "data.normalize.std", "> 0"),
        ({"bogus": 1}, "bogus", "unknown key"),
        ({"teacher": {"logits": "t.npy", "input_size": [32, 32]}}, "teacher", "take no 'input_size'"),
        ({"teacher": {"bundled": "mnist-resnet8", "input_size": [0, 32]}}, "teacher.input_size", ">= 1"),
        ({"data": {"bundled": "mnist", "labeled_fraction": 0}}, "data.labeled_fraction", "greater than 0"),
        ({"distillation": {"relation": {"distance": 0, "angle": 0}}}, "distillation.relation", "above 0"),
        ({"distillation": {"hints": [{"teacher": "layer2"}]}}, "distillation.hints.0.student", "Field required"),
        ({"distillation": {"born_again": 9}}, "distillation.born_again", "less than or equal to 5"),
        (
            {"distillation": {"assistants": [{"name": "vgg"}]}},
            "distillation.assistants.0.name",
            "unknown student 'vgg'",
        ),
        ({"distillation": {"relation": {"teacher": "layer3"}, "born_again": 1}}, "distillation", "cannot be combined"),
        ({"distillation": {"mode": "mutual", "born_again": 1}}, "distillation", "mode mutual trains a cohort"),
        ({"distillation": {"mode": "online"}}, "distillation.mode", "'teacher' or 'mutual'"),
        (
            {"distillation": {"mutual": {"peers": [{"name": "vgg"}]}}},
            "distillation.mutual.peers.0.name",
            "unknown student 'vgg'",
        ),
        (
            {"prune": {"importance": "l2"}},
            "prune",
            "exactly one of 'ratio', 'keep_macs' or 'keep_params' (or only 'unstructured')",
        ),
        ({"prune": {"ratio": 0.5, "keep_macs": 0.5}}, "prune", "exactly one of"),
        ({"prune": {"ratio": 1.0}}, "prune.ratio", "less than 1"),
        ({"prune": {"ratio": 0.5, "importance": "random"}}, "prune.importance", "Input should be"),
    ],
)
def test_bad_values_name_the_field(patch, path, message):
    err = _error({**BASE, **patch})
    assert err.startswith(f"proj.yaml: {path}: "), err
    assert message in err


def test_missing_section_is_named():
    assert _error({"data": {"bundled": "mnist"}}).startswith("proj.yaml: teacher: Field required")


def test_section_slices_are_json(tmp_path):
    cfg = default_config()
    assert cfg.section("distillation")["distillation"]["alpha"] == 0.9
