"""Class scores as every task reads a teacher's: logits, probabilities and log-probabilities told apart, class maps
by name, label lists as files and metadata write them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgedistill.errors import ConfigError
from edgedistill.pipeline.tasks.class_scores import (
    as_log_scores,
    detect_output_kind,
    match_classes,
    parse_label_list,
    read_label_file,
)


def test_probabilities_log_probabilities_and_logits_are_told_apart():
    logits = torch.randn(16, 10) * 4
    assert detect_output_kind(logits.numpy()) == "logits"
    assert detect_output_kind(logits.softmax(1).numpy()) == "probs"
    assert detect_output_kind(logits.softmax(1).half().float().numpy()) == "probs"  # fp16 rounding of the sums
    assert detect_output_kind(logits.log_softmax(1).numpy()) == "log_probs"
    assert detect_output_kind(torch.sigmoid(logits).numpy()) == "logits"  # non-negative, but rows do not sum to 1
    assert detect_output_kind(np.array([[0.5, 0.5]])) == "probs"


def test_the_log_of_probabilities_gives_back_their_distribution_with_certain_zeros():
    probs = torch.tensor([[0.7, 0.3, 0.0]])
    scores = as_log_scores(probs, "probs")
    assert torch.isfinite(scores).all()
    assert torch.allclose(scores.softmax(1), probs, atol=1e-6)


def test_a_class_map_matches_names_loosely_keeps_the_data_order_and_renormalises():
    class_map = match_classes(["Tabby_Cat", "dog", "golden-retriever", "car"], ["golden retriever", "tabby cat"], "t")
    assert class_map.columns == (2, 0) and class_map.dropped == 2 and not class_map.identity
    probs = torch.tensor([[0.1, 0.2, 0.3, 0.4]])
    picked = class_map.select(as_log_scores(probs, "probs")).softmax(1)
    assert torch.allclose(picked, torch.tensor([[0.75, 0.25]]))


def test_a_class_named_twice_or_missing_is_one_line():
    with pytest.raises(ConfigError, match=r"the teacher's class 'Cat' appears twice \(columns 0 and 2\)"):
        match_classes(["cat", "dog", "Cat"], ["cat", "dog"], "t")
    with pytest.raises(ConfigError, match=r"t: the teacher has no class named 'bird' \(1 of the data's 2 classes"):
        match_classes(["cat", "dog"], ["cat", "bird"], "t")


def test_label_lists_read_as_json_or_one_per_line(tmp_path):
    assert parse_label_list('["a", "b"]', "m") == ["a", "b"]
    (tmp_path / "labels.txt").write_text("tench\n\ngoldfish\r\ngreat white shark\n")
    assert read_label_file(tmp_path / "labels.txt") == ["tench", "goldfish", "great white shark"]
    with pytest.raises(ConfigError, match="labels.txt: needs at least 2 class names, found 1"):
        (tmp_path / "labels.txt").write_text("only\n")
        read_label_file(tmp_path / "labels.txt")
    with pytest.raises(ConfigError, match="missing.txt: teacher.labels file not found"):
        read_label_file(tmp_path / "missing.txt")
    with pytest.raises(ConfigError, match="m: the labels look like JSON but do not parse"):
        parse_label_list('["a", ', "m")
    assert parse_label_list('{"1": "dog", "0": "cat"}', "m") == ["cat", "dog"]  # id2label, as Hugging Face writes it
    with pytest.raises(ConfigError, match=r"m: a JSON object of labels must name outputs 0..1"):
        parse_label_list('{"0": "cat", "2": "dog"}', "m")


def test_the_classification_head_runs_where_the_teacher_runs():
    """On the `meta` device (what CUDA and MPS would see): no CPU constant meets the scores."""
    from edgedistill.pipeline.tasks import get_task

    class_map = match_classes([f"c{i}" for i in range(1000)], ["c7", "c3", "c999"], "t")
    head = get_task("classification").teacher_head("probs", class_map)
    out = head(torch.empty(4, 1000, device="meta", dtype=torch.float16))
    assert out.device.type == "meta" and out.shape == (4, 3) and out.dtype == torch.float32
