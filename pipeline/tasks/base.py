"""The task interface and its registry."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch

from edgedistill.contracts import Metrics, TensorSpec, TrainedStudent
from edgedistill.errors import ConfigError
from edgedistill.pipeline.tasks.class_scores import ClassMap, OutputKind

TASKS: dict[str, type[Task]] = {}

T = TypeVar("T", bound=type["Task"])


def register_task(cls: T) -> T:
    if cls.name in TASKS:
        raise ValueError(f"task {cls.name!r} registered twice")
    TASKS[cls.name] = cls
    return cls


def get_task(name: str) -> Task:
    try:
        return TASKS[name]()
    except KeyError:
        raise ConfigError(f"task: unknown task {name!r}; known: {', '.join(sorted(TASKS))}") from None


@dataclass(frozen=True)
class Column:
    """A column of the console's models table: its header, the metric it shows and how."""

    header: str
    metric: str
    spec: str = ".2f"


class Task(ABC):
    name: ClassVar[str]
    primary_metric: ClassVar[str]  # the metric models are judged by (the int8 drop, retention, the gain)
    columns: ClassVar[tuple[Column, ...]]  # what the console's models table shows of each model
    reference_metrics: ClassVar[Metrics] = {}  # the agreement metrics of the reference (the student) with itself

    @abstractmethod
    def metrics(self, outputs: np.ndarray, labels: np.ndarray) -> Metrics:
        """A model's metrics from its raw outputs over a split and the split's labels."""

    @abstractmethod
    def agreement(self, outputs: np.ndarray, reference: np.ndarray) -> Metrics:
        """How closely a model's outputs follow the reference model's (an exported file against the student)."""

    @abstractmethod
    def teacher_output_problem(self, output: Any, num_classes: int) -> str | None:
        """What is wrong with the teacher's raw output for a batch of two (a tensor, a tuple, a dict: whatever
        the teacher returns), or None when it fits the task; num_classes counts the teacher's classes."""

    @abstractmethod
    def teacher_class_scores(self, output: Any) -> np.ndarray:
        """The class scores in the teacher's raw output (rows of classes), to tell logits from probabilities."""

    @abstractmethod
    def teacher_head(self, kind: OutputKind, class_map: ClassMap | None) -> Callable[[Any], torch.Tensor]:
        """From the teacher's raw output to what the task learns from: scores whose softmax is the teacher's
        distribution over the data's classes (probabilities turned into log-probabilities, the class map applied)."""

    @abstractmethod
    def class_predictions(self, outputs: np.ndarray) -> np.ndarray | None:
        """One predicted class per sample from a model's outputs over a split, for the class-order check;
        None where the task has no single class per sample."""

    @abstractmethod
    def output_meaning(self, output: TensorSpec) -> str:
        """What the shipped model's output means, for the manifest's app team."""

    def points_below(self, reference: Metrics, other: Metrics) -> float:
        """How far `other` falls below `reference` on the primary metric (the int8 drop)."""
        return round(reference[self.primary_metric] - other[self.primary_metric], 3)

    def search_score(self, student: TrainedStudent) -> float:
        """The budget search's quality score of a trained candidate: the validation metric training kept."""
        return student.val_accuracy
