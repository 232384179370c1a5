"""Loading the teacher named in the config: the bundled example, factory + state_dict, TorchScript,
torch.export, ONNX, or precomputed logits; each teacher sees its own view of a sample."""

from __future__ import annotations

import hashlib
import importlib
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from torch import nn

from edgedistill.errors import CheckpointError, ConfigError
from edgedistill.fsutil import sha256_file
from edgedistill.pipeline.config import TeacherConfig
from edgedistill.pipeline.data.bundle import DataBundle, Split
from edgedistill.pipeline.data.transforms import make_normalizer
from edgedistill.pipeline.distill.runtime import CPU, TrainRuntime
from edgedistill.pipeline.distill.training import evaluate, predict_logits
from edgedistill.pipeline.tasks import Task, get_task
from edgedistill.progress import Progress

T = TypeVar("T")


@dataclass(frozen=True)
class Teacher:
    description: str
    checkpoint: Path  # the file it came from
    fingerprint: str  # identifies weights + architecture + view, for cache keys
    module: nn.Module | None  # None for precomputed logits
    view: Callable[
        [torch.Tensor], torch.Tensor
    ]  # images in [0, 1], NCHW -> the teacher's input (its resize and mean/std)
    input_hw: tuple[int, int]
    table: np.ndarray | None = None  # precomputed logits, one row per source row of the data

    @property
    def file_size(self) -> int:
        return self.checkpoint.stat().st_size

    @property
    def live(self) -> bool:
        """Whether the teacher can be run on new (augmented) inputs and tapped for features."""
        return self.module is not None

    def logits(self, rows: np.ndarray | torch.Tensor, unit_x: torch.Tensor) -> torch.Tensor:
        """Logits for samples given by their source rows and their images in [0, 1] (NCHW).

        Precomputed logits ignore the images: an augmented view gets its sample's logits."""
        if self.table is not None:
            return torch.from_numpy(np.asarray(self.table[np.asarray(rows)], np.float32))
        assert self.module is not None
        return predict_logits(self.module, self.view(unit_x))

    def split_logits(self, split: Split, pixel_max: float, runtime: TrainRuntime = CPU) -> torch.Tensor:
        """Logits for every sample of a split (float32, CPU), streamed from the stores in batches."""
        if self.table is not None:
            return torch.from_numpy(np.asarray(self.table[split.rows], np.float32))
        assert self.module is not None
        return evaluate(self.module, split, self.view, pixel_max, runtime)


def _load_state_dict(path: Path) -> dict:
    if not path.is_file():
        raise CheckpointError(f"{path}: teacher checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for damaged or non-weights files
        first_line = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a readable PyTorch state_dict ({first_line})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: expected a state_dict (a mapping of names to tensors)")
    return state


def load_state_dict_into(module: nn.Module, path: Path) -> None:
    state = _load_state_dict(path)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        missing = [k for k in module.state_dict() if k not in state]
        unexpected = [k for k in state if k not in module.state_dict()]
        if missing or unexpected:
            detail = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        else:
            detail = "tensor shapes differ"
        raise CheckpointError(f"{path}: checkpoint does not fit the model architecture ({detail})") from exc


def _import_factory(spec: str):
    module_name, attr = spec.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"teacher.factory: cannot import {module_name!r} ({exc})") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"teacher.factory: {module_name!r} has no {attr!r}") from None


def load_teacher(cfg: TeacherConfig, data: DataBundle, progress: Progress, task: Task | None = None) -> Teacher:
    """The teacher, checked on a batch of two against what the project's task expects of its output
    (classification when no task is given)."""
    if cfg.logits is not None:
        return _logits_teacher(cfg.logits, data)
    module, path, description, arch_id = _load_module(cfg, data, progress)
    module.eval()
    h, w, c = data.image_shape
    input_hw = tuple(cfg.input_size) if cfg.input_size else (h, w)
    norm = cfg.normalize or data
    if len(norm.mean) != c or len(norm.std) != c:
        raise ConfigError(f"teacher.normalize: needs {c} mean/std values (one per channel of the data)")
    mean, std = list(norm.mean), list(norm.std)
    if isinstance(module, OnnxTeacher) and module.uint8 and cfg.normalize is None:
        mean, std = [0.0] * c, [1 / 255] * c  # a uint8 input takes raw pixels: the graph normalises them itself
    view = make_normalizer(mean, std, input_hw)  # type: ignore[arg-type]
    _check_output(module, data, path, input_hw, task or get_task("classification"))
    view_id = json.dumps([input_hw, mean, std])
    fingerprint = hashlib.sha256(f"{arch_id}|{sha256_file(path)}|{view_id}".encode()).hexdigest()
    return Teacher(description, path, fingerprint, module, view, input_hw)  # type: ignore[arg-type]


def _load_module(cfg: TeacherConfig, data: DataBundle, progress: Progress) -> tuple[nn.Module, Path, str, str]:
    """(module, its file, a description, an architecture id) for every source that is a runnable model."""
    if cfg.bundled is not None:
        from edgedistill.pipeline.example.teacher import ARCH, build_teacher_module, ensure_teacher_checkpoint

        path = ensure_teacher_checkpoint(progress)
        module = build_teacher_module(data.num_classes, data.image_shape[2])
        load_state_dict_into(module, path)
        return (
            module,
            path,
            f"bundled {cfg.bundled} ({ARCH['name']} {ARCH['options']})",
            json.dumps(ARCH, sort_keys=True),
        )
    if cfg.onnx is not None:
        module = OnnxTeacher(cfg.onnx, cfg.layout, cfg.output)
        return (
            module,
            cfg.onnx,
            f"ONNX {cfg.onnx.name} (onnxruntime{module.notes()})",
            f"onnx|{module.layout}|{module.output}",
        )
    if cfg.exported is not None:
        path = cfg.exported
        module = _load_file(
            path,
            "exported (.pt2)",
            "torch.export program",
            lambda p: ExportedTeacher(torch.export.load(str(p)).module()),
        )
        return module, path, f"torch.export {path.name}", "torch.export"
    if cfg.torchscript is not None:
        path = cfg.torchscript
        return (
            _load_file(path, "TorchScript", "TorchScript file", _load_torchscript),
            path,
            f"TorchScript {path.name}",
            "torchscript",
        )
    assert cfg.factory is not None and cfg.checkpoint is not None
    factory = _import_factory(cfg.factory)
    try:
        module = factory(**cfg.kwargs)
    except Exception as exc:
        raise ConfigError(f"teacher.factory: {cfg.factory}(**kwargs) failed ({type(exc).__name__}: {exc})") from None
    if not isinstance(module, nn.Module):
        raise ConfigError(f"teacher.factory: {cfg.factory} returned {type(module).__name__}, not a torch.nn.Module")
    load_state_dict_into(module, cfg.checkpoint)
    arch_id = json.dumps({"factory": cfg.factory, "kwargs": cfg.kwargs}, sort_keys=True, default=str)
    return module, cfg.checkpoint, f"{cfg.factory} + {cfg.checkpoint.name}", arch_id


def _logits_teacher(path: Path, data: DataBundle) -> Teacher:
    """A teacher behind an API: its logits for every sample, one row per source row (labelled data, then data.unlabeled)."""
    table = _load_file(path, "logits", ".npy array", lambda p: np.load(p, allow_pickle=False, mmap_mode="r"))
    if table.ndim != 2 or not np.issubdtype(table.dtype, np.floating):
        raise CheckpointError(
            f"{path}: teacher logits must be a 2-D float array (samples x classes), got {table.dtype} {table.shape}"
        )
    if len(table) != data.source_rows:
        extra = f" + {data.unlabeled_rows} unlabeled = {data.source_rows}" if data.unlabeled_rows else ""
        raise CheckpointError(
            f"{path}: teacher logits have {len(table)} rows but the data has {data.labelled_rows} samples{extra}; "
            "give one row per sample, in source order"
        )
    if table.shape[1] != data.num_classes:
        raise CheckpointError(
            f"{path}: teacher logits have {table.shape[1]} columns; expected {data.num_classes} (one per class)"
        )
    if not all(np.isfinite(table[i : i + 65536]).all() for i in range(0, len(table), 65536)):
        raise CheckpointError(f"{path}: teacher logits hold NaN or infinite values")
    h, w, _ = data.image_shape
    return Teacher(
        description=f"precomputed logits {path.name}",
        checkpoint=path,
        fingerprint=hashlib.sha256(f"logits|{sha256_file(path)}".encode()).hexdigest(),
        module=None,
        view=lambda x: x,
        input_hw=(h, w),
        table=table,  # memory-mapped: rows are read as batches ask for them
    )


def _load_file(path: Path, source: str, what: str, loader: Callable[[Path], T]) -> T:
    """Load a teacher file, turning a missing or unreadable one into a one-line CheckpointError."""
    if not path.is_file():
        raise CheckpointError(f"{path}: {source} teacher not found")
    try:
        return loader(path)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise CheckpointError(f"{path}: not a loadable {what} ({first})") from None


def _load_torchscript(path: Path) -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is deprecated, still a common teacher format
        return torch.jit.load(str(path), map_location="cpu")


class ExportedTeacher(nn.Module):
    """A torch.export program behind the nn.Module interface. Its graph is fixed in eval mode and
    refuses .eval()/.train(), so it is held outside the module tree where those calls cannot reach it."""

    def __init__(self, graph: nn.Module) -> None:
        super().__init__()
        object.__setattr__(self, "graph", graph)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.graph(x)

    def _apply(self, fn, recurse: bool = True):  # .to(device) reaches the held graph's weights
        self.graph._apply(fn)
        return self


def onnx_providers() -> list[str]:
    """onnxruntime's CUDA provider where this onnxruntime has it and a GPU is there, else the CPU."""
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers() and torch.cuda.is_available():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class OnnxTeacher(nn.Module):
    """An ONNX model (any framework's teacher) behind the nn.Module interface; inference only.

    It takes NCHW float batches of any size, as every teacher does, and feeds the graph what it declares: a fixed
    batch in slices of that size (the last one padded), channels last when the graph's input is NHWC, raw 0-255
    pixels when its input is uint8 (the teacher's view then scales to 0-255 instead of normalising). With several
    outputs, `output` names the one with the class scores (default: the first)."""

    def __init__(self, path: Path, layout: str = "auto", output: str | None = None) -> None:
        super().__init__()
        import onnxruntime as ort

        self.session = _load_file(
            path, "ONNX", "ONNX model", lambda p: ort.InferenceSession(str(p), providers=onnx_providers())
        )
        graph_input = self.session.get_inputs()[0]
        self.wants = graph_input
        dims = list(graph_input.shape)
        self.batch = dims[0] if dims and isinstance(dims[0], int) and dims[0] > 0 else None
        self.uint8 = graph_input.type == "tensor(uint8)"
        if graph_input.type not in ("tensor(float)", "tensor(uint8)"):
            raise CheckpointError(
                f"{path}: the teacher's input {graph_input.name!r} is {graph_input.type}; "
                "edgedistill feeds float32 or uint8"
            )
        channels_last = len(dims) == 4 and dims[3] in (1, 3, 4) and dims[1] not in (1, 3, 4)
        self.layout = ("NHWC" if channels_last else "NCHW") if layout == "auto" else layout
        names = [o.name for o in self.session.get_outputs()]
        if output is not None and output not in names:
            raise CheckpointError(
                f"{path}: teacher.output {output!r} is not an output of the graph ({', '.join(names)})"
            )
        self.output = output or names[0]
        self.outputs = names

    def notes(self) -> str:
        """What was adapted, for the teacher's description."""
        notes = [f"batch {self.batch} in slices"] if self.batch else []
        notes += ["NHWC"] if self.layout == "NHWC" else []
        notes += ["uint8 input"] if self.uint8 else []
        notes += [f"output {self.output!r}"] if len(self.outputs) > 1 else []
        return "; " + ", ".join(notes) if notes else ""

    def describe_input(self) -> str:
        return f"input {self.wants.name!r} of shape {list(self.wants.shape)} {self.wants.type}"

    def _run(self, x: np.ndarray) -> np.ndarray:
        return self.session.run([self.output], {self.wants.name: x})[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.detach().float().cpu()
        if self.layout == "NHWC":
            batch = batch.permute(0, 2, 3, 1)
        arr = batch.contiguous().numpy()
        arr = np.clip(np.rint(arr), 0, 255).astype(np.uint8) if self.uint8 else arr
        if self.batch is None:
            out = self._run(arr)
        else:  # a graph exported with a fixed batch: slices of that size, the last one padded with zeros
            parts = []
            for start in range(0, len(arr), self.batch):
                part = arr[start : start + self.batch]
                pad = self.batch - len(part)
                if pad:
                    part = np.concatenate([part, np.zeros((pad, *part.shape[1:]), dtype=part.dtype)])
                parts.append(self._run(part)[: self.batch - pad])
            out = np.concatenate(parts)
        return torch.from_numpy(np.ascontiguousarray(out)).to(x.device)


def _check_output(module: nn.Module, data: DataBundle, path: Path, input_hw: tuple[int, int], task: Task) -> None:
    (h, w), c = input_hw, data.image_shape[2]
    try:
        with torch.no_grad():
            out = module(torch.zeros(2, c, h, w))
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        wants = f"; the graph wants {module.describe_input()}" if isinstance(module, OnnxTeacher) else ""
        raise CheckpointError(
            f"{path}: teacher fails on a batch of two {c}x{h}x{w} inputs ({first}){wants}; set teacher.input_size?"
        ) from None
    problem = task.teacher_output_problem(out, data.num_classes)
    if problem is not None:
        raise CheckpointError(f"{path}: {problem}")
