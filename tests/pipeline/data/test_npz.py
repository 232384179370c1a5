"""An .npz streams into its store a chunk of rows at a time (np.savez and np.savez_compressed alike): the store
is the arrays np.load gives, every chunk is checked, and memory holds a chunk, not the file."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from edgedistill.errors import DataError
from edgedistill.pipeline.config import DataConfig
from edgedistill.pipeline.data.bundle import load_data
from edgedistill.pipeline.data.npz import NpzFile


def rows_of(data) -> np.ndarray:
    """Every labelled image of a bundle, in source order."""
    out = np.empty((data.labelled_rows, *data.image_shape), data.train.images.dtype)
    for split in (data.train, data.val, data.test):
        out[split.rows] = split.x
    return out


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
@pytest.mark.parametrize("order", ["C", "F"])
def test_rows_read_in_chunks_are_the_array(tmp_path, save, order):
    x = np.random.default_rng(0).random((37, 5, 4, 3)).astype(np.float32)
    save(tmp_path / "d.npz", x=np.asarray(x, order=order), y=np.arange(37) % 3)
    with NpzFile(tmp_path / "d.npz") as f:
        assert sorted(f.names) == ["x", "y"] and f.header("x").shape == (37, 5, 4, 3)
        chunks = list(f.rows("x", chunk_bytes=5 * 4 * 3 * 4 * 8))  # 8 rows a chunk
        assert [len(c) for c in chunks] == [8, 8, 8, 8, 5]
        np.testing.assert_array_equal(np.concatenate(chunks), x)
        np.testing.assert_array_equal(f.read("y"), np.arange(37) % 3)
    data = load_data(DataConfig(npz=tmp_path / "d.npz"), tmp_path / "cache")
    assert data.image_shape == (5, 4, 3) and data.pixel_max == 1.0
    np.testing.assert_array_equal(rows_of(data), x)


def test_a_float_value_out_of_range_or_nan_in_any_chunk_is_refused(tmp_path):
    x = np.full((30, 4, 4), 0.5, np.float64)
    x[-1, 3, 3] = np.nan  # in the last row: the last chunk
    np.savez_compressed(tmp_path / "d.npz", x=x, y=np.arange(30) % 2)
    with pytest.raises(DataError, match=r"d.npz: float images must lie in \[0, 1\]"):
        load_data(DataConfig(npz=tmp_path / "d.npz"), tmp_path / "cache")
    with NpzFile(tmp_path / "d.npz") as f:
        assert len(list(f.rows("x", chunk_bytes=16 * 8))) == 30  # one row a chunk: the check sees each


def test_a_cut_short_npz_is_one_line(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((50, 8, 8), np.uint8), y=np.arange(50) % 2)
    whole = (tmp_path / "d.npz").read_bytes()
    (tmp_path / "d.npz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match=r"d.npz: not a readable .npz file \(BadZipFile\)$"):
        load_data(DataConfig(npz=tmp_path / "d.npz"), tmp_path / "cache")


def test_an_object_array_is_refused_without_unpickling(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.array([None, 1], dtype=object), y=np.arange(2))
    with pytest.raises(DataError, match=r"d.npz: x must be a numeric array, got Python objects \(object\)"):
        load_data(DataConfig(npz=tmp_path / "d.npz"), tmp_path / "cache")


def test_a_200_mb_npz_is_converted_in_memory_far_below_its_size(tmp_path):
    n = 200 * 2**20 // (64 * 64 * 3)
    x = np.empty((n, 64, 64, 3), np.uint8)
    x[:] = (np.arange(n) % 251).astype(np.uint8)[:, None, None, None]  # each image its own level
    np.savez(tmp_path / "big.npz", x=x, y=np.arange(n) % 10)
    del x
    config = DataConfig(npz=tmp_path / "big.npz", normalize={"mean": [0.5] * 3, "std": [0.25] * 3})
    tracemalloc.start()
    try:
        data = load_data(config, tmp_path / "cache")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert data.labelled_rows == n and data.image_shape == (64, 64, 3)
    assert peak < 48 * 2**20, f"peak {peak / 2**20:.0f} MiB while converting a 200 MiB array"
    rows = data.test.rows[:50]
    assert (data.test.x[:50, 0, 0, 0] == rows % 251).all() and (data.test.x[:50, 63, 63, 2] == rows % 251).all()
