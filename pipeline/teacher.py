"""Loading the teacher named in the config: bundled example, factory + state_dict, or TorchScript."""

from __future__ import annotations

import hashlib
import importlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

import torch
from torch import nn

from edgedistill.pipeline.config import TeacherConfig
from edgedistill.pipeline.data import DataBundle
from edgedistill.pipeline.errors import CheckpointError, ConfigError
from edgedistill.pipeline.fsutil import sha256_file
from edgedistill.pipeline.progress import Progress

T = TypeVar("T")


@dataclass(frozen=True)
class Teacher:
    module: nn.Module
    description: str
    checkpoint: Path
    fingerprint: str  # identifies weights + architecture, for cache keys

    @property
    def file_size(self) -> int:
        return self.checkpoint.stat().st_size


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


def load_teacher(cfg: TeacherConfig, data: DataBundle, progress: Progress) -> Teacher:
    if cfg.bundled is not None:
        from edgedistill.pipeline.example.teacher import ARCH, build_teacher_module, ensure_teacher_checkpoint

        path = ensure_teacher_checkpoint(data, progress)
        module = build_teacher_module(data.num_classes, data.image_shape[2])
        load_state_dict_into(module, path)
        description = f"bundled {cfg.bundled} ({ARCH['name']} {ARCH['options']})"
        arch_id = json.dumps(ARCH, sort_keys=True)
    elif cfg.onnx is not None:
        path = cfg.onnx
        module = OnnxTeacher(path)
        description = f"ONNX {path.name} (onnxruntime)"
        arch_id = "onnx"
    elif cfg.exported is not None:
        path = cfg.exported
        module = _load_file(path, "exported (.pt2)", "torch.export program", lambda p: ExportedTeacher(torch.export.load(str(p)).module()))
        description = f"torch.export {path.name}"
        arch_id = "torch.export"
    elif cfg.torchscript is not None:
        path = cfg.torchscript
        module = _load_file(path, "TorchScript", "TorchScript file", _load_torchscript)
        description = f"TorchScript {path.name}"
        arch_id = "torchscript"
    else:
        assert cfg.factory is not None and cfg.checkpoint is not None
        factory = _import_factory(cfg.factory)
        try:
            module = factory(**cfg.kwargs)
        except Exception as exc:
            raise ConfigError(f"teacher.factory: {cfg.factory}(**kwargs) failed ({type(exc).__name__}: {exc})") from None
        if not isinstance(module, nn.Module):
            raise ConfigError(f"teacher.factory: {cfg.factory} returned {type(module).__name__}, not a torch.nn.Module")
        path = cfg.checkpoint
        load_state_dict_into(module, path)
        description = f"{cfg.factory} + {path.name}"
        arch_id = json.dumps({"factory": cfg.factory, "kwargs": cfg.kwargs}, sort_keys=True, default=str)
    module.eval()
    _check_output(module, data, path)
    fingerprint = hashlib.sha256(f"{arch_id}|{sha256_file(path)}".encode()).hexdigest()
    return Teacher(module=module, description=description, checkpoint=path, fingerprint=fingerprint)


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


class OnnxTeacher(nn.Module):
    """An ONNX model (any framework's teacher) behind the nn.Module interface; inference only."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        import onnxruntime as ort

        self.session = _load_file(path, "ONNX", "ONNX model", lambda p: ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]))
        self.input_name = self.session.get_inputs()[0].name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.session.run(None, {self.input_name: x.detach().cpu().numpy().astype("float32")})[0])


def _check_output(module: nn.Module, data: DataBundle, path: Path) -> None:
    h, w, c = data.image_shape
    try:
        with torch.no_grad():
            out = module(torch.zeros(2, c, h, w))
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise CheckpointError(f"{path}: teacher fails on a batch of two {c}x{h}x{w} inputs ({first})") from None
    if not isinstance(out, torch.Tensor) or out.shape != (2, data.num_classes):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise CheckpointError(f"{path}: teacher outputs {shape} for 2 inputs; expected (2, {data.num_classes}) logits")
