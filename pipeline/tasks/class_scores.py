"""A teacher's class scores as any task reads them: what kind of numbers they are (logits, probabilities,
log-probabilities) and which of its classes are the data's (a class map by name). A classifier's output row
and a detector's per-box class scores are both rows of class scores, so every task reuses these."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from edgedistill.errors import ConfigError

OutputKind = Literal["logits", "probs", "log_probs"]
ROW_SUM_TOLERANCE = 1e-3  # float32 softmax rows sum to 1 within ~1e-6; fp16 ones within ~1e-3
PROBS_FLOOR = 1e-12  # log(0) for a class the teacher rules out entirely: a very negative log-probability instead


def detect_output_kind(scores: np.ndarray) -> OutputKind:
    """What a teacher's class scores (rows of classes) are: probabilities when every row is non-negative and sums to
    1, log-probabilities when every row is non-positive and its exponentials sum to 1, else logits."""
    s = np.asarray(scores, np.float64).reshape(len(scores), -1)
    if not len(s) or s.shape[1] < 2 or not np.isfinite(s).all():
        return "logits"
    if (s >= 0).all() and np.allclose(s.sum(1), 1.0, atol=ROW_SUM_TOLERANCE):
        return "probs"
    if (s <= 0).all() and np.allclose(np.exp(s).sum(1), 1.0, atol=ROW_SUM_TOLERANCE):
        return "log_probs"
    return "logits"


def as_log_scores(scores: torch.Tensor, kind: OutputKind) -> torch.Tensor:
    """Scores whose softmax is the teacher's distribution: logits and log-probabilities as they are, probabilities
    as their logarithms (a softmax of a probability row is not the teacher's distribution; of its log it is)."""
    if kind == "probs":
        return torch.log(scores.float().clamp_min(PROBS_FLOOR))
    return scores


def _key(name: str) -> str:
    """A class name as names are compared: case, spaces, '_' and '-' do not count ('Golden_Retriever' = 'golden retriever')."""
    return re.sub(r"[\s_\-]+", " ", name).strip().casefold()


@dataclass(frozen=True)
class ClassMap:
    """Which teacher output column holds each data class, in the data's class order."""

    teacher_labels: tuple[str, ...]
    columns: tuple[int, ...]  # columns[i]: the teacher's column for the data's class i

    @property
    def identity(self) -> bool:
        return self.columns == tuple(range(len(self.teacher_labels)))

    @property
    def dropped(self) -> int:
        """Teacher classes the data does not have: left out of its distribution, which is renormalised."""
        return len(self.teacher_labels) - len(self.columns)

    def describe(self) -> str:
        if self.identity:
            return f"{len(self.columns)} classes matched by name"
        return f"{len(self.teacher_labels)} classes mapped by name to the data's {len(self.columns)}"

    def select(self, log_scores: torch.Tensor) -> torch.Tensor:
        """The data's classes from log-scores over the teacher's (class axis last). Taking the columns of logits or
        log-probabilities and letting the softmax renormalise is the teacher's distribution over the data's classes:
        its extra classes dropped, the rest renormalised."""
        if self.identity:
            return log_scores
        index = torch.as_tensor(self.columns, device=log_scores.device)
        return log_scores.index_select(-1, index)


def match_classes(teacher_labels: Sequence[str], data_labels: Sequence[str], source: str) -> ClassMap:
    """The class map from the teacher's class names to the data's; one ConfigError line naming the data classes
    the teacher does not have, or a teacher name given twice."""
    by_key: dict[str, int] = {}
    for column, name in enumerate(teacher_labels):
        key = _key(name)
        if key in by_key:
            raise ConfigError(
                f"{source}: the teacher's class {name!r} appears twice (columns {by_key[key]} and {column})"
            )
        by_key[key] = column
    missing = [name for name in data_labels if _key(name) not in by_key]
    if missing:
        shown = ", ".join(repr(m) for m in missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
        raise ConfigError(
            f"{source}: the teacher has no class named {shown} ({len(missing)} of the data's {len(data_labels)} "
            f"classes; it has {len(teacher_labels)}); rename them with data.labels or give the teacher's names in teacher.labels"
        )
    return ClassMap(tuple(teacher_labels), tuple(by_key[_key(name)] for name in data_labels))


def parse_label_list(text: str, source: str) -> list[str]:
    """Class names from a label file or a model's metadata: a JSON list, a JSON object of output index to name
    (Hugging Face's id2label), else one name per line."""
    stripped = text.strip()
    if stripped.startswith(("[", "{")):
        try:
            names = json.loads(stripped)
        except ValueError:
            raise ConfigError(f"{source}: the labels look like JSON but do not parse") from None
        if isinstance(names, dict):
            try:
                by_index = {int(k): v for k, v in names.items()}
            except ValueError:
                raise ConfigError(f"{source}: a JSON object of labels must map output indices to names") from None
            if sorted(by_index) != list(range(len(by_index))):
                raise ConfigError(f"{source}: a JSON object of labels must name outputs 0..{len(by_index) - 1}")
            names = [by_index[i] for i in range(len(by_index))]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ConfigError(f"{source}: the labels must be a JSON list of strings (or an object of index to name)")
    else:
        names = [line.strip() for line in stripped.splitlines() if line.strip()]
    if len(names) < 2:
        raise ConfigError(f"{source}: needs at least 2 class names, found {len(names)}")
    return names


def read_label_file(path: Path) -> list[str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: teacher.labels file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read teacher.labels ({type(exc).__name__})") from None
    return parse_label_list(text, str(path))
