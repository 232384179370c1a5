"""The data a build works on: the labelled source and the transfer set as decoded stores on disk
(`sources.py`, `store.py`), the deterministic split into train / val / test, labeled_fraction, the
transfer set, and the pixel statistics.

Nothing here holds the images in memory: a Split is row numbers into the stores, read in batches
(`Split.batches`, or the DataLoader in `loader.py`). `Split.x` reads a whole split, for small ones.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.markup import escape

from edgedistill.contracts import SkippedFiles
from edgedistill.errors import DataError
from edgedistill.fsutil import write_json
from edgedistill.pipeline.config import DataConfig
from edgedistill.pipeline.data.scan import skipped_line
from edgedistill.pipeline.data.sources import UNLABELED, labelled_store, unlabeled_store
from edgedistill.pipeline.data.stats import channel_mean_std
from edgedistill.pipeline.data.store import StoredImages, open_store
from edgedistill.progress import Progress, quiet

__all__ = ["UNLABELED", "DataBundle", "SourceImages", "Split", "keep_labels", "load_data", "stratified_split"]

READ_BYTES = 32 << 20  # raw image bytes per read when a whole split is streamed
STATS_BYTES = 8 << 20  # raw bytes per chunk of the statistics pass (float64 inside: 8x that)


class SourceImages:
    """One row space over the stores: the labelled source's rows, then data.unlabeled's. Holds folders, not
    arrays, so it pickles small (DataLoader workers); each process maps the files itself."""

    def __init__(self, folders: list[Path]) -> None:
        self.folders = folders
        self._arrays: list[np.ndarray] | None = None

    def __getstate__(self) -> dict:
        return {"folders": self.folders}

    def __setstate__(self, state: dict) -> None:
        self.folders, self._arrays = state["folders"], None

    @property
    def arrays(self) -> list[np.ndarray]:
        if self._arrays is None:
            self._arrays = [open_store(f).images for f in self.folders]
        return self._arrays

    @property
    def item_shape(self) -> tuple[int, int, int]:
        return tuple(self.arrays[0].shape[1:])  # type: ignore[return-value]

    @property
    def dtype(self) -> np.dtype:
        return self.arrays[0].dtype

    def read(self, rows: np.ndarray) -> np.ndarray:
        """The images of these rows, in this order (one batch in memory)."""
        rows = np.asarray(rows, np.int64)
        first = self.arrays[0]
        if len(self.arrays) == 1 or (len(rows) and rows.max() < len(first)):
            return _take(first, rows)
        out = np.empty((len(rows), *self.item_shape), self.dtype)
        start = 0
        for arr in self.arrays:
            local = (rows >= start) & (rows < start + len(arr))
            if local.any():
                out[local] = _take(arr, rows[local] - start)
            start += len(arr)
        return out


def _take(arr: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Fancy indexing that reads a memmap in row order (sequential on disk) and returns the asked order."""
    if len(rows) < 2 or np.all(rows[1:] >= rows[:-1]):
        return arr[rows]
    order = np.argsort(rows, kind="stable")
    out = np.empty((len(rows), *arr.shape[1:]), arr.dtype)
    out[order] = arr[rows[order]]
    return out


@dataclass(frozen=True)
class Split:
    images: SourceImages = field(repr=False)
    y: np.ndarray  # int64 labels, (N,); UNLABELED in the transfer set
    rows: np.ndarray  # each sample's row in the source: labelled data first, then data.unlabeled

    def __len__(self) -> int:
        return len(self.y)

    @property
    def x(self) -> np.ndarray:
        """Every image of the split in memory, (N, H, W, C): for small splits; stream large ones with batches()."""
        return self.images.read(self.rows)

    def rows_per(self, budget_bytes: int, bytes_per_value: int = 1, cap: int | None = None) -> int:
        """How many images fit a memory budget when each pixel value takes bytes_per_value bytes (4 as float32)."""
        per_image = int(np.prod(self.images.item_shape)) * bytes_per_value
        rows = max(1, budget_bytes // per_image)
        return rows if cap is None else min(cap, rows)

    def batches(self, size: int | None = None) -> Iterator[tuple[slice, np.ndarray]]:
        """(positions in the split, raw images) in order, `size` at a time (default: about READ_BYTES)."""
        size = size or self.rows_per(READ_BYTES, self.images.dtype.itemsize)
        for start in range(0, len(self), size):
            part = slice(start, min(start + size, len(self)))
            yield part, self.images.read(self.rows[part])

    def subset(self, positions: np.ndarray) -> Split:
        return Split(self.images, self.y[positions], self.rows[positions])


@dataclass(frozen=True)
class DataBundle:
    source: str
    train: Split
    val: Split
    test: Split
    transfer: Split  # no labels: data.unlabeled plus training samples whose labels labeled_fraction drops
    labelled_rows: int  # samples in the labelled source (before the split)
    unlabeled_rows: int  # samples in data.unlabeled
    class_names: list[str]
    pixel_max: float  # 255 for uint8 images, 1 for float images
    mean: list[float]
    std: list[float]
    fingerprint: str = field(repr=False)
    skipped_images: list[str] = field(default_factory=list, repr=False)  # unreadable, left out (skip_bad_images)
    loader_workers: int | None = None  # data.workers
    # per image folder: the files and folders it holds but the build does not read
    skipped_files: list[SkippedFiles] = field(default_factory=list, repr=False)
    # one line each, shown as the data is loaded: files skipped, classes too small for the split
    warnings: list[str] = field(default_factory=list, repr=False)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def source_rows(self) -> int:
        """Rows a precomputed-logits teacher must cover: the labelled source, then data.unlabeled."""
        return self.labelled_rows + self.unlabeled_rows

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of the raw images."""
        return self.train.images.item_shape

    def training_set(self) -> Split:
        """The labelled training split followed by the transfer set (labels UNLABELED there)."""
        t, u = self.train, self.transfer
        return Split(t.images, np.concatenate([t.y, u.y]), np.concatenate([t.rows, u.rows]))

    def preprocessing(self, size: tuple[int, int] | None = None) -> dict:
        h, w, c = self.image_shape
        size = size or (h, w)
        return {
            "resize": {"height": size[0], "width": size[1], "method": "bilinear, antialiased (PIL Image.BILINEAR)"},
            "channels": c,
            "color": "grayscale" if c == 1 else "rgb",
            "scale": 1.0 / self.pixel_max,
            "mean": self.mean,
            "std": self.std,
            "formula": "x = (pixel * scale - mean[c]) / std[c]",
        }


def stratified_split(y: np.ndarray, val: float, test: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deterministic per-class split into train/val/test indices (each class in every split when it can be)."""
    rng = np.random.default_rng(seed)
    parts: tuple[list, list, list] = ([], [], [])
    for cls in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == cls))
        n_test = int(round(len(idx) * test))
        n_val = int(round(len(idx) * val))
        parts[2].append(idx[:n_test])
        parts[1].append(idx[n_test : n_test + n_val])
        parts[0].append(idx[n_test + n_val :])
    return tuple(np.sort(np.concatenate(p)) for p in parts)  # type: ignore[return-value]


def load_data(cfg: DataConfig, store_root: Path | None = None, progress: Progress | None = None) -> DataBundle:
    """The data of a config. Sources are decoded once into stores under store_root (the build's cache;
    a temporary folder of this process when None); pixel statistics are computed in one streaming pass
    and kept beside the stores."""
    progress = progress or quiet()
    root = Path(store_root) if store_root is not None else _process_store_root()
    labelled_source = labelled_store(cfg, root, progress)
    labelled, source = labelled_source.store, labelled_source.description
    unlabeled_source = unlabeled_store(cfg, root, labelled, progress)
    unlabeled = unlabeled_source.store if unlabeled_source is not None else None
    skipped_files = [s.skipped_files for s in (labelled_source, unlabeled_source) if s and s.skipped_files]
    y = labelled.labels
    where = source if cfg.bundled is None else "data"
    if len(y) == 0:
        raise DataError(f"{where}: the data set is empty")
    names = labelled.class_names
    present = np.unique(y)
    num_classes = len(cfg.labels) if cfg.labels else (len(names) if names else int(y.max()) + 1)
    if y.min() < 0 or y.max() >= num_classes:
        raise DataError(f"{where}: labels must lie in 0..{num_classes - 1}, found {int(y.min())}..{int(y.max())}")
    if len(present) < 2:
        raise DataError(f"{where}: needs at least 2 classes, found {len(present)}")
    class_names = list(cfg.labels) if cfg.labels else (names or [str(i) for i in range(num_classes)])

    train_idx, val_idx, test_idx = stratified_split(y, cfg.split.val, cfg.split.test, cfg.split.seed)
    for part, idx in (("train", train_idx), ("val", val_idx), ("test", test_idx)):
        if len(idx) == 0:
            raise DataError(f"{where}: too few samples ({len(y)}) for a non-empty {part} split")
    warnings = [skipped_line(s) for s in skipped_files]
    small = too_small_for_split(y, class_names, val_idx, test_idx)
    warnings += [small] if small else []
    for warning in warnings:
        progress.console.print(f"[yellow]warning:[/] {escape(warning)}")
    train_idx, dropped_idx = keep_labels(y, train_idx, cfg.labeled_fraction, cfg.split.seed)
    stores = [labelled] + ([unlabeled] if unlabeled is not None else [])
    images = SourceImages([s.folder for s in stores])
    n_unlabeled = len(unlabeled) if unlabeled is not None else 0
    transfer_rows = np.concatenate([dropped_idx, len(y) + np.arange(n_unlabeled)]).astype(np.int64)
    pixel_max = 255.0 if images.dtype == np.uint8 else 1.0
    channels = images.item_shape[-1]
    if cfg.normalize is not None:
        mean, std = list(cfg.normalize.mean), list(cfg.normalize.std)
        if len(mean) != channels or len(std) != channels:
            raise DataError(f"{where}: data.normalize needs {channels} mean/std values (one per channel)")
    else:  # every training image counts, labelled or not
        stat_rows = np.concatenate([train_idx, transfer_rows])
        mean, std = _pixel_stats(root, stores, images, stat_rows, pixel_max)

    digest = hashlib.sha256()
    for part in stores:
        digest.update(part.content_sha256.encode())
    for arr in (y, train_idx, val_idx, test_idx, transfer_rows):
        digest.update(np.ascontiguousarray(arr).tobytes())
    digest.update(repr((class_names, mean, std, pixel_max)).encode())
    return DataBundle(
        source=source,
        train=Split(images, y[train_idx], train_idx),
        val=Split(images, y[val_idx], val_idx),
        test=Split(images, y[test_idx], test_idx),
        transfer=Split(images, np.full(len(transfer_rows), UNLABELED, np.int64), transfer_rows),
        labelled_rows=len(y),
        unlabeled_rows=n_unlabeled,
        class_names=class_names,
        pixel_max=pixel_max,
        mean=mean,
        std=std,
        fingerprint=digest.hexdigest(),
        skipped_images=[s for part in stores for s in part.skipped],
        loader_workers=cfg.workers,
        skipped_files=skipped_files,
        warnings=warnings,
    )


def too_small_for_split(
    y: np.ndarray, class_names: list[str], val_idx: np.ndarray, test_idx: np.ndarray, named: int = 8
) -> str | None:
    """One line naming the classes with no sample in the validation or the test split (too few samples for
    data.split: their accuracy is never measured there); None when every class reaches both."""
    counts = np.bincount(y, minlength=len(class_names))
    in_val = np.bincount(y[val_idx], minlength=len(class_names))
    in_test = np.bincount(y[test_idx], minlength=len(class_names))
    short = [c for c in range(len(class_names)) if counts[c] and (not in_val[c] or not in_test[c])]
    if not short:
        return None

    def entry(c: int) -> str:
        missing = ", ".join(f"no {part}" for part, n in (("val", in_val[c]), ("test", in_test[c])) if not n)
        return f"{class_names[c]!r} ({counts[c]:,} image{'' if counts[c] == 1 else 's'}: {missing})"

    listed = ", ".join(entry(c) for c in short[:named])
    more = f" and {len(short) - named:,} more" if len(short) > named else ""
    what = "class" if len(short) == 1 else f"{len(short):,} classes"
    return f"{what} too small for data.split, never scored there: {listed}{more}; add images or merge classes"


def _pixel_stats(
    root: Path, stores: list[StoredImages], images: SourceImages, rows: np.ndarray, pixel_max: float
) -> tuple[list[float], list[float]]:
    """Rounded per-channel mean/std over these rows, from one streaming pass; kept under root/stats/."""
    key = hashlib.sha256(
        json.dumps([s.content_sha256 for s in stores]).encode() + np.ascontiguousarray(rows).tobytes()
    ).hexdigest()[:24]
    path = root / "stats" / f"{key}.json"
    try:
        cached = json.loads(path.read_text())
        return cached["mean"], cached["std"]
    except (OSError, ValueError, KeyError):
        pass
    rows = np.sort(rows)
    chunk = max(1, STATS_BYTES // (int(np.prod(images.item_shape)) * images.dtype.itemsize))
    mean, std = channel_mean_std((images.read(rows[i : i + chunk]) for i in range(0, len(rows), chunk)), pixel_max)
    mean = [round(v, 6) for v in mean]
    std = [round(max(v, 1e-3), 6) for v in std]
    try:
        write_json(path, {"mean": mean, "std": std})
    except OSError:
        pass  # a cache that cannot be written costs one more pass next time, nothing else
    return mean, std


_TEMP_ROOT: Path | None = None


def _process_store_root() -> Path:
    """Stores of a process that named no cache (tests, scripts): one temporary folder, removed at exit."""
    global _TEMP_ROOT
    if _TEMP_ROOT is None:
        _TEMP_ROOT = Path(tempfile.mkdtemp(prefix="edgedistill-stores-"))
        atexit.register(shutil.rmtree, _TEMP_ROOT, True)
    return _TEMP_ROOT


def keep_labels(y: np.ndarray, train_idx: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split training indices into (kept labelled, dropped) keeping `fraction` of each class (at least one)."""
    if fraction >= 1.0:
        return train_idx, train_idx[:0]
    rng = np.random.default_rng(seed + 1)
    kept, dropped = [], []
    for cls in np.unique(y[train_idx]):
        idx = rng.permutation(train_idx[y[train_idx] == cls])
        n = max(1, int(round(len(idx) * fraction)))
        kept.append(idx[:n])
        dropped.append(idx[n:])
    return np.sort(np.concatenate(kept)), np.sort(np.concatenate(dropped))
