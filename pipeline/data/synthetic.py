"""The data of a data-free build: images synthesized from the teacher as the training and validation splits,
the configured source's test split kept for the final measurement (data.synthetic)."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np

from edgedistill.pipeline.data.bundle import UNLABELED, DataBundle, SourceImages, Split, stratified_split
from edgedistill.pipeline.data.store import cached_store, source_key, write_arrays

SYNTHETIC_STORES = "synthetic"  # under the data root: one store per set of synthesized images, keyed by content


def synthetic_bundle(
    real: DataBundle,
    images: Path,
    images_sha256: str,
    val_fraction: float,
    seed: int,
    root: Path,
    whole_source_test: bool = False,
) -> DataBundle:
    """real's classes, normalisation and test split (or, whole_source_test, every labelled image of the source as
    the test split), with train and validation splits (per class) over the synthesized images in the .npz `images`
    (x: N, H, W, C as the source keeps its pixels; y: the classes they were made for). Their store is keyed by the
    file's hash (the stage cache's), so a later build neither reads nor hashes the images again."""

    def write(tmp: Path) -> None:
        with np.load(images) as arrays:
            write_arrays(tmp, arrays["x"], arrays["y"].astype(np.int64), None)

    store = cached_store(root / SYNTHETIC_STORES, source_key({"synthetic": images_sha256}), write)
    source = SourceImages([store.folder])
    train_idx, val_idx, _ = stratified_split(store.labels, val_fraction, 0.0, seed)
    fingerprint = hashlib.sha256(f"{real.fingerprint}|synthetic|{store.content_sha256}".encode()).hexdigest()
    test, measured_on = real.test, f"test split: {real.source}"
    if whole_source_test:
        measured_on = f"test: every image of {real.source}"
        fingerprint = hashlib.sha256(f"{fingerprint}|whole source test".encode()).hexdigest()
        labelled = (real.train, real.val, real.test)  # a data-free source has no transfer set
        rows = np.concatenate([s.rows for s in labelled])
        order = np.argsort(rows, kind="stable")
        test = Split(real.test.images, np.concatenate([s.y for s in labelled])[order], rows[order])
    return dataclasses.replace(
        real,
        test=test,
        source=f"{len(store)} images synthesized from the teacher; {measured_on}",
        train=Split(source, store.labels[train_idx], train_idx),
        val=Split(source, store.labels[val_idx], val_idx),
        transfer=Split(source, np.full(0, UNLABELED, np.int64), np.zeros(0, np.int64)),
        labelled_rows=len(store),
        unlabeled_rows=0,
        fingerprint=fingerprint,
    )


def image_grid_png(x: np.ndarray, y: np.ndarray, num_classes: int, per_class: int = 8, thumb: int = 48) -> bytes:
    """A PNG of the first `per_class` images of every class, one row per class. Small images are enlarged by a
    whole factor up to `thumb` pixels on the longer side (nearest neighbour: the pixels as they are), larger ones
    shrunk to it (bilinear), so the page stays small at 224x224. x: N, H, W, C as the source keeps its pixels
    (uint8 0..255, or float 0..1)."""
    import io

    from PIL import Image

    h, w, c = x.shape[1:]
    scale = max(1, thumb // max(h, w)) if max(h, w) <= thumb else thumb / max(h, w)
    th, tw = max(1, round(h * scale)), max(1, round(w * scale))
    method = Image.NEAREST if scale >= 1 else Image.BILINEAR
    gap = 2
    sheet = Image.new("RGB", (per_class * (tw + gap) + gap, num_classes * (th + gap) + gap), (255, 255, 255))
    for cls in range(num_classes):
        for k, i in enumerate(np.flatnonzero(y == cls)[:per_class]):
            img = x[i] if x.dtype == np.uint8 else (np.clip(x[i], 0, 1) * 255).round().astype(np.uint8)
            tile = Image.fromarray(img[..., 0] if c == 1 else img).convert("RGB").resize((tw, th), method)
            sheet.paste(tile, (gap + k * (tw + gap), gap + cls * (th + gap)))
    out = io.BytesIO()
    sheet.save(out, format="PNG", optimize=True)
    return out.getvalue()
