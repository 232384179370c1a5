"""The held-out zoo: frozen by its hash, varied, and every model a working network at both its sizes."""

from __future__ import annotations

import torch

from edgedistill.benchmarks.latency.zoo import ZOO, definitions_hash, frozen_hash


def test_the_zoo_is_the_committed_one():
    # a change to zoo.py changes what the predictor is judged on: it must come with a new zoo.sha256
    assert definitions_hash() == frozen_hash()


def test_the_zoo_spans_the_families_users_bring_at_two_sizes_each():
    families = {entry.family for entry in ZOO}
    assert len(ZOO) >= 16 and len(families) >= 8
    for family in families:
        assert len({entry.input_shape for entry in ZOO if entry.family == family}) == 2, family


def test_every_zoo_model_runs_at_its_input_shape():
    torch.manual_seed(0)
    for entry in ZOO:
        with torch.no_grad():
            out = entry.module().eval()(torch.randn(1, *entry.input_shape))
        assert out.ndim == 2 and out.shape[0] == 1 and out.shape[1] >= 10, entry.name
        assert torch.isfinite(out).all(), entry.name
