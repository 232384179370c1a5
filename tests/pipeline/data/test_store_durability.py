"""A decoded image store is on disk before it is renamed into place (pipeline/data/store.py)."""

from __future__ import annotations

import numpy as np

from edgedistill.pipeline.data.store import IMAGES, LABELS, META, cached_store, write_arrays
from tests.edgedistill.disk_log import record_disk


def test_a_store_is_on_disk_before_it_is_renamed_into_place(tmp_path, monkeypatch):
    x, y = np.zeros((3, 4, 4, 1), np.uint8), np.arange(3)
    log = record_disk(monkeypatch)
    store = cached_store(tmp_path, "k", lambda folder: write_arrays(folder, x, y, None))
    for path in (store.folder / IMAGES, store.folder / LABELS, store.folder / META, store.folder):
        assert log.on_disk_before(path, store.folder), path
    assert log.folder_synced_after(tmp_path, store.folder)
