from __future__ import annotations

import pytest
import torch
from torch import nn

from edgedistill.errors import ConfigError
from edgedistill.pipeline.distill.features import FeatureTap, HintAdapter, feature_shape, last_linear, resolve_layer
from edgedistill.students.registry import build_student


def _student():
    return build_student(
        "dscnn", num_classes=10, in_channels=1, input_size=28, options={"channels": 16, "blocks": 2}
    ).eval()


def test_tap_keeps_a_layer_output_and_the_classifier_input():
    model = _student()
    tap = FeatureTap(model, {"f": ("features.2", "x"), "emb": (last_linear(model, "x"), "x")})
    x = torch.randn(3, 1, 28, 28)
    expected = model.features[:3](x)
    tap.take()
    logits = model(x)
    got = tap.take()
    assert torch.allclose(got["f"], expected)
    assert tap.take() == {}  # taken once
    assert got["emb"].shape == (3, 16) and torch.allclose(model.classifier(got["emb"]), logits)
    tap.close()
    model(x)
    assert tap.take() == {}  # hooks removed
    assert feature_shape(model, FeatureTap(model, {"f": ("features.4", "x")}), x) == {"f": (16, 7, 7)}


def test_a_missing_layer_names_the_field_and_the_closest_layers():
    with pytest.raises(
        ConfigError, match=r"distillation.hints\[0\].student: no layer 'feature.2' in the model \(closest: features.2"
    ):
        resolve_layer(_student(), "feature.2", "distillation.hints[0].student")


def test_models_without_layers_or_hooks_are_refused_clearly():
    class Opaque(nn.Module):  # like the ONNX and torch.export teachers: no submodules
        def forward(self, x):
            return x

    with pytest.raises(ConfigError, match="no PyTorch layers to tap"):
        last_linear(Opaque(), "distillation.relation.teacher")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(_student())
    with pytest.raises(ConfigError, match="cannot tap 'features.2'.*factory \\+ checkpoint"):
        FeatureTap(scripted, {"f": ("features.2", "distillation.hints[0].teacher")})


def test_adapter_maps_student_features_onto_the_teacher_shape():
    assert HintAdapter((16, 14, 14), (64, 7, 7))(torch.randn(2, 16, 14, 14)).shape == (2, 64, 7, 7)
    assert HintAdapter((16,), (128,))(torch.randn(2, 16)).shape == (2, 128)
    with pytest.raises(
        ConfigError,
        match="cannot match a student feature of shape \\(16,\\) to a teacher feature of shape \\(64, 7, 7\\)",
    ):
        HintAdapter((16,), (64, 7, 7))
