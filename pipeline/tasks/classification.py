"""Classification: one label per image; top-1 accuracy, top-1 agreement, logits out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from edgedistill.contracts import Metrics, TensorSpec
from edgedistill.pipeline.distill.training import accuracy, agreement
from edgedistill.pipeline.tasks.base import Column, Task, register_task
from edgedistill.pipeline.tasks.class_scores import ClassMap, OutputKind, as_log_scores


@register_task
class Classification(Task):
    name = "classification"
    primary_metric = "accuracy"
    columns = (Column("test acc %", "accuracy"), Column("agree %", "agreement_with_student"))
    reference_metrics = {"agreement_with_student": 100.0, "max_abs_logit_diff": 0.0}

    def metrics(self, outputs: np.ndarray, labels: np.ndarray) -> Metrics:
        return {"accuracy": round(accuracy(outputs, labels), 3)}

    def agreement(self, outputs: np.ndarray, reference: np.ndarray) -> Metrics:
        return {
            "agreement_with_student": round(agreement(outputs, reference), 3),
            "max_abs_logit_diff": round(float(np.abs(outputs - reference).max()), 6),
        }

    def teacher_output_problem(self, output: Any, num_classes: int) -> str | None:
        shape = getattr(output, "shape", None)
        if shape is None:
            return f"teacher outputs a {type(output).__name__} for 2 inputs; expected (2, {num_classes}) logits"
        if tuple(shape) == (2, num_classes):
            return None
        return f"teacher outputs {tuple(shape)} for 2 inputs; expected (2, {num_classes}) logits"

    def teacher_class_scores(self, output: Any) -> np.ndarray:
        return np.asarray(torch.as_tensor(output).detach().float().cpu())

    def teacher_head(self, kind: OutputKind, class_map: ClassMap | None) -> Callable[[Any], torch.Tensor]:
        if kind != "probs" and class_map is None:
            return _float_scores

        def head(output: Any) -> torch.Tensor:
            scores = as_log_scores(_float_scores(output), kind)
            return class_map.select(scores) if class_map is not None else scores

        return head

    def class_predictions(self, outputs: np.ndarray) -> np.ndarray | None:
        return np.asarray(outputs).argmax(axis=1)

    def output_meaning(self, output: TensorSpec) -> str:
        return "class logits in label order; argmax is the prediction"


def _float_scores(output: Any) -> torch.Tensor:
    return output.float() if isinstance(output, torch.Tensor) else torch.as_tensor(output).float()
