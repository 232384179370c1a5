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
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from edgedistill.errors import CheckpointError, ConfigError
from edgedistill.fsutil import sha256_file
from edgedistill.pipeline.config import TeacherConfig
from edgedistill.pipeline.data.bundle import DataBundle, Split
from edgedistill.pipeline.data.transforms import make_normalizer, to_unit_tensor
from edgedistill.pipeline.distill.runtime import CPU, TrainRuntime
from edgedistill.pipeline.distill.training import evaluate, predict_logits
from edgedistill.pipeline.tasks import Task, get_task
from edgedistill.pipeline.tasks.class_scores import (
    ClassMap,
    OutputKind,
    detect_output_kind,
    match_classes,
    parse_label_list,
    read_label_file,
)
from edgedistill.progress import Progress

T = TypeVar("T")


class TeacherView:
    """Images in [0, 1] (NCHW) -> the teacher's input: its channel order, its resize and its mean/std."""

    def __init__(self, mean: list[float], std: list[float], size: tuple[int, int], bgr: bool = False) -> None:
        self.normalize = make_normalizer(mean, std, size)
        self.mean, self.std, self.size, self.bgr = list(mean), list(std), tuple(size), bgr

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.normalize(x.flip(1) if self.bgr else x)

    def identity(self) -> str:
        return json.dumps([list(self.size), self.mean, self.std] + (["BGR"] if self.bgr else []))


def _float_scores(output: Any) -> torch.Tensor:
    return output.float()


@dataclass(frozen=True)
class Teacher:
    description: str
    checkpoint: Path  # the file it came from
    fingerprint: str  # identifies weights + architecture + view + output handling, for cache keys
    module: nn.Module | None  # None for precomputed logits
    view: Callable[
        [torch.Tensor], torch.Tensor
    ]  # images in [0, 1], NCHW -> the teacher's input (its resize and mean/std)
    input_hw: tuple[int, int]
    table: np.ndarray | None = None  # precomputed logits, one row per source row of the data
    # the raw output -> scores whose softmax is the teacher's distribution over the data's classes (the task's head)
    head: Callable[[Any], torch.Tensor] = _float_scores
    takes_raw_pixels: bool = False  # a uint8-input graph that normalises inside itself
    class_map: ClassMap | None = None  # the teacher's columns of the data's classes (None: the data's own order)

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
            return self.head(torch.from_numpy(np.asarray(self.table[np.asarray(rows)], np.float32)))
        assert self.module is not None
        with torch.no_grad():
            return self.head(predict_logits(self.module, self.view(unit_x)))

    def run(self, unit_x: torch.Tensor) -> torch.Tensor:
        """The live teacher's scores for images in [0, 1] (NCHW), through its view and its head."""
        assert self.module is not None
        return self.head(self.module(self.view(unit_x)))

    def split_logits(self, split: Split, pixel_max: float, runtime: TrainRuntime = CPU) -> torch.Tensor:
        """Logits for every sample of a split (float32, CPU), streamed from the stores in batches."""
        if self.table is not None:
            return self.head(torch.from_numpy(np.asarray(self.table[split.rows], np.float32)))
        assert self.module is not None
        return evaluate(_Headed(self.module, self.head), split, self.view, pixel_max, runtime)


class _Headed(nn.Module):
    """A teacher module followed by its head, batch by batch (a 1000-class output never piles up whole)."""

    def __init__(self, module: nn.Module, head: Callable[[Any], torch.Tensor]) -> None:
        super().__init__()
        self.module, self.head = module, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.module(x))


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
    """The factory callable (a module beside the config is on the import path: `load_config` put it there)."""
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
    """The teacher, checked on two validation images against what the project's task expects of its output
    (classification when no task is given): its output kind found, its classes mapped to the data's by name, then
    (teacher.checks) its class order and preprocessing checked on up to 512 validation images."""
    from edgedistill.pipeline.distill.teacher_checks import check_teacher_fit

    task = task or get_task("classification")
    teacher = (
        _logits_teacher(cfg, data, task, progress)
        if cfg.logits is not None
        else _live_teacher(cfg, data, task, progress)
    )
    if cfg.checks:
        check_teacher_fit(teacher, data, task, progress)
    return teacher


def _live_teacher(cfg: TeacherConfig, data: DataBundle, task: Task, progress: Progress) -> Teacher:
    module, path, description, arch_id = _load_module(cfg, data, progress)
    module.eval()
    h, w, c = data.image_shape
    input_hw = tuple(cfg.input_size) if cfg.input_size else (h, w)
    norm = cfg.normalize or data
    if len(norm.mean) != c or len(norm.std) != c:
        raise ConfigError(f"teacher.normalize: needs {c} mean/std values (one per channel of the data)")
    if cfg.color_order == "BGR" and c != 3:
        raise ConfigError(f"{path}: teacher.color_order: BGR needs 3-channel images; the data has {c}")
    mean, std = list(norm.mean), list(norm.std)
    raw_pixels = isinstance(module, OnnxTeacher) and module.uint8 and cfg.normalize is None
    if raw_pixels:
        mean, std = [0.0] * c, [1 / 255] * c  # a uint8 input takes raw pixels: the graph normalises them itself
    view = TeacherView(mean, std, input_hw, bgr=cfg.color_order == "BGR")  # type: ignore[arg-type]
    labels = _teacher_labels(cfg, module)
    class_map, width = _class_map(labels, data, path, progress, from_metadata=cfg.labels is None)
    output = _probe(module, view, data, path, input_hw, task, width, named=width != data.num_classes)
    kind = _output_kind(cfg, task.teacher_class_scores(output), path, progress)
    notes = _notes(kind, class_map)
    fingerprint = hashlib.sha256(
        f"{arch_id}|{sha256_file(path)}|{view.identity()}|{kind}|{class_map}".encode()
    ).hexdigest()
    return Teacher(
        description + notes,
        path,
        fingerprint,
        module,
        view,
        input_hw,  # type: ignore[arg-type]
        head=task.teacher_head(kind, class_map),
        takes_raw_pixels=raw_pixels,
        class_map=class_map,
    )


def _teacher_labels(cfg: TeacherConfig, module: nn.Module | None) -> list[str] | None:
    """The teacher's class names in output order: teacher.labels (a list or a file), else an ONNX model's metadata."""
    if isinstance(cfg.labels, list):
        return parse_label_list(json.dumps(cfg.labels), "teacher.labels")
    if cfg.labels is not None:
        return read_label_file(cfg.labels)
    if isinstance(module, OnnxTeacher) and module.metadata_labels is not None:
        return parse_label_list(module.metadata_labels, f"{module.path}: metadata 'labels'")
    return None


def _class_map(
    labels: list[str] | None, data: DataBundle, path: Path, progress: Progress, from_metadata: bool = False
) -> tuple[ClassMap | None, int]:
    """(the map from the teacher's classes to the data's, the teacher's class count); no map when the teacher names
    none or names the data's classes in the data's order. Names the user gave must match; names a model's metadata
    carries that do not are set aside with one line."""
    if labels is None:
        return None, data.num_classes
    try:
        class_map = match_classes(
            labels, data.class_names, f"{path}: {'metadata' if from_metadata else 'teacher.labels'}"
        )
    except ConfigError as exc:
        if not from_metadata:
            raise
        progress.console.print(f"{exc}; the class names in the model's metadata are not used (set teacher.labels)")
        return None, data.num_classes
    return (None if class_map.identity else class_map), len(labels)


def _output_kind(cfg: TeacherConfig, scores: np.ndarray, path: Path, progress: Progress) -> OutputKind:
    if cfg.output_kind != "auto":
        return cfg.output_kind
    kind = detect_output_kind(scores)
    if kind == "probs":
        progress.console.print(
            f"teacher {path.name} outputs probabilities (rows sum to 1): distilling from their logarithms "
            "(set teacher.output_kind to say so)"
        )
    return kind


def _notes(kind: OutputKind, class_map: ClassMap | None) -> str:
    notes = ["probabilities -> log-probabilities"] if kind == "probs" else []
    notes += [class_map.describe()] if class_map is not None else []
    return f" [{'; '.join(notes)}]" if notes else ""


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


def _logits_teacher(cfg: TeacherConfig, data: DataBundle, task: Task, progress: Progress) -> Teacher:
    """A teacher behind an API: its logits (or probabilities) for every sample, one row per source row (labelled
    data, then data.unlabeled)."""
    assert cfg.logits is not None
    path = cfg.logits
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
    labels = _teacher_labels(cfg, None)
    class_map, width = _class_map(labels, data, path, progress)
    if table.shape[1] != width:
        named = f"the {width} classes of teacher.labels" if labels else "one per class"
        raise CheckpointError(f"{path}: teacher logits have {table.shape[1]} columns; expected {width} ({named})")
    if not all(np.isfinite(table[i : i + 65536]).all() for i in range(0, len(table), 65536)):
        raise CheckpointError(f"{path}: teacher logits hold NaN or infinite values")
    kind = _output_kind(cfg, np.asarray(table[:1024]), path, progress)
    h, w, _ = data.image_shape
    return Teacher(
        description=f"precomputed logits {path.name}{_notes(kind, class_map)}",
        checkpoint=path,
        fingerprint=hashlib.sha256(f"logits|{sha256_file(path)}|{kind}|{class_map}".encode()).hexdigest(),
        module=None,
        view=lambda x: x,
        input_hw=(h, w),
        table=table,  # memory-mapped: rows are read as batches ask for them
        head=task.teacher_head(kind, class_map),
        class_map=class_map,
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
        self.path = path
        # class names a converter or vendor stored with the model (a JSON list or one per line)
        self.metadata_labels = self.session.get_modelmeta().custom_metadata_map.get("labels")

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


def _probe(
    module: nn.Module,
    view: TeacherView,
    data: DataBundle,
    path: Path,
    input_hw: tuple[int, int],
    task: Task,
    width: int,
    named: bool,
) -> Any:
    """The teacher's raw output for two validation images, checked against what the task expects of it."""
    (h, w), c = input_hw, data.image_shape[2]
    _, raw = next(data.val.subset(np.arange(min(2, len(data.val)))).batches())
    try:
        with torch.no_grad():
            out = module(view(to_unit_tensor(raw, data.pixel_max)))
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        wants = f"; the graph wants {module.describe_input()}" if isinstance(module, OnnxTeacher) else ""
        raise CheckpointError(
            f"{path}: teacher fails on a batch of two {c}x{h}x{w} inputs ({first}){wants}; set teacher.input_size?"
        ) from None
    problem = task.teacher_output_problem(out, width)
    if problem is not None:
        shape = tuple(getattr(out, "shape", ()))
        other_classes = not named and len(shape) == 2 and shape[1] != width
        hint = (
            "; a teacher with other classes than the data's needs teacher.labels (its class names)"
            if other_classes
            else ""
        )
        raise CheckpointError(f"{path}: {problem}{hint}")
    return out
