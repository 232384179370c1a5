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
    real: DataBundle, x: np.ndarray, y: np.ndarray, val_fraction: float, seed: int, root: Path
) -> DataBundle:
    """real's classes, normalisation and test split, with train and validation splits (per class) over the
    synthesized images x (N, H, W, C, uint8) and the classes they were made for, y."""
    digest = hashlib.sha256(np.ascontiguousarray(x).tobytes())
    digest.update(np.ascontiguousarray(y, np.int64).tobytes())
    key = source_key({"synthetic": digest.hexdigest()})
    store = cached_store(root / SYNTHETIC_STORES, key, lambda tmp: write_arrays(tmp, x, y.astype(np.int64), None))
    images = SourceImages([store.folder])
    train_idx, val_idx, _ = stratified_split(store.labels, val_fraction, 0.0, seed)
    fingerprint = hashlib.sha256(f"{real.fingerprint}|synthetic|{store.content_sha256}".encode()).hexdigest()
    empty = np.zeros(0, np.int64)
    return dataclasses.replace(
        real,
        source=f"{len(y)} images synthesized from the teacher; test split: {real.source}",
        train=Split(images, store.labels[train_idx], train_idx),
        val=Split(images, store.labels[val_idx], val_idx),
        transfer=Split(images, np.full(0, UNLABELED, np.int64), empty),
        labelled_rows=len(y),
        unlabeled_rows=0,
        fingerprint=fingerprint,
    )
