"""The bundled example teacher: ResNet-8 (base width 32) trained on the bundled MNIST split.

Its checkpoint ships next to this file; when it is missing it is trained once (a few minutes on
2 cores) into the user cache. Run `python -m edgedistill.pipeline.example.teacher` to retrain it.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from edgedistill.fsutil import write_torch
from edgedistill.pipeline.data.bundle import DataBundle
from edgedistill.pipeline.data.transforms import make_normalizer
from edgedistill.pipeline.distill.training import accuracy, evaluate, fit
from edgedistill.progress import Progress
from edgedistill.students.registry import build_student

ARCH = {"name": "resnet8", "options": {"base": 32}}
SHIPPED_CHECKPOINT = Path(__file__).with_name("mnist_resnet8.pt")
RECIPE = {"epochs": 15, "batch_size": 64, "lr": 5e-3, "weight_decay": 5e-4, "seed": 0, "augment": True}


def build_teacher_module(num_classes: int = 10, in_channels: int = 1) -> nn.Module:
    return build_student(
        ARCH["name"], num_classes=num_classes, in_channels=in_channels, input_size=28, options=ARCH["options"]
    )


def cached_checkpoint() -> Path:
    root = Path(os.environ.get("EDGEDISTILL_HOME", Path.home() / ".cache" / "edgedistill"))
    return root / "mnist_resnet8.pt"


def train_teacher(
    data: DataBundle,
    out: Path,
    progress: Progress,
    model: nn.Module | None = None,
    input_size: tuple[int, int] | None = None,
    **recipe,
) -> float:
    """Train a teacher (default: the example's ResNet-8) on data's train split, at its own input size if given;
    save its state_dict to out; return its test accuracy."""
    params = {**RECIPE, **recipe}
    h, w, c = data.image_shape
    model = model if model is not None else build_teacher_module(data.num_classes, c)
    train_y = torch.from_numpy(data.train.y)
    normalize = make_normalizer(data.mean, data.std, input_size)

    def loss_fn(logits: torch.Tensor, idx: torch.Tensor, _batch: torch.Tensor, _mix: object) -> torch.Tensor:
        return F.cross_entropy(logits, train_y[idx].to(logits.device))  # shifts only: nothing is mixed

    fit(
        model,
        train=data.train,
        pixel_max=data.pixel_max,
        loss_fn=loss_fn,
        val=data.val,
        normalize=normalize,
        progress=progress,
        label="training example teacher",
        **params,
    )
    write_torch(out, model.state_dict())
    test_logits = evaluate(model, data.test, normalize, data.pixel_max)
    return accuracy(test_logits, data.test.y)


def ensure_teacher_checkpoint(progress: Progress, data: DataBundle | None = None) -> Path:
    """The shipped checkpoint, else the cached one, else train one now (once) on `data`, by default the bundled
    data with all its labels."""
    from edgedistill.pipeline.config import default_config
    from edgedistill.pipeline.data.bundle import load_data

    for path in (SHIPPED_CHECKPOINT, cached_checkpoint()):
        if path.is_file():
            return path
    out = cached_checkpoint()
    progress.console.print(f"example teacher checkpoint missing: training it once into {out}")
    train_teacher(data or load_data(default_config().data), out, progress)
    return out


def main() -> None:
    from edgedistill.pipeline.config import default_config
    from edgedistill.pipeline.data.bundle import load_data

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=SHIPPED_CHECKPOINT)
    parser.add_argument("--epochs", type=int, default=RECIPE["epochs"])
    args = parser.parse_args()
    data = load_data(default_config().data)
    acc = train_teacher(data, args.out, Progress(), epochs=args.epochs)
    print(f"teacher test accuracy {acc:.2f}% -> {args.out}")


if __name__ == "__main__":
    main()
