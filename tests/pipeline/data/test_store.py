"""The decoded image store: decoded once (by worker processes), read from disk in batches afterwards, keyed
by the files it came from; corrupt images fail with their path or are skipped and listed."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from edgedistill.errors import DataError
from edgedistill.pipeline.config import DataConfig
from edgedistill.pipeline.data import store as store_module
from edgedistill.pipeline.data.bundle import load_data
from edgedistill.pipeline.data.loader import batches_of, to_unit
from edgedistill.pipeline.data.transforms import to_unit_tensor


def photo_folder(root, per_class=40, classes=("cat", "dog", "eel"), size=(20, 16), fmt="JPEG"):
    """Class folders of small noisy photos (JPEG by default), each class its own brightness."""
    rng = np.random.default_rng(0)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.clip(rng.normal(60 + 60 * c, 25, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i:03d}.{fmt.lower()}", fmt)
    return root


def test_an_image_folder_is_decoded_once_into_a_store_then_read_from_it(tmp_path, monkeypatch):
    photos = photo_folder(tmp_path / "photos")
    cfg = DataConfig(image_folder=photos, image_size=(12, 12), workers=2)
    first = load_data(cfg, tmp_path / "cache")
    stores = [p for p in (tmp_path / "cache").iterdir() if (p / "meta.json").is_file()]
    assert len(stores) == 1 and json.loads((stores[0] / "meta.json").read_text())["shape"] == [120, 12, 12, 3]

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(store_module, "_decode_chunk", no_decoding)
    second = load_data(cfg, tmp_path / "cache")
    assert second.fingerprint == first.fingerprint
    np.testing.assert_array_equal(second.test.x, first.test.x)
    assert second.test.x.dtype == np.uint8 and second.test.x.shape[1:] == (12, 12, 3)


def test_decoding_with_workers_gives_the_store_one_process_gives(tmp_path):
    photos = photo_folder(tmp_path / "photos", per_class=70)  # more than one chunk of 64 per worker
    pooled = load_data(DataConfig(image_folder=photos, workers=2), tmp_path / "a")
    alone = load_data(DataConfig(image_folder=photos, workers=0), tmp_path / "b")
    assert pooled.fingerprint == alone.fingerprint
    np.testing.assert_array_equal(pooled.train.x, alone.train.x)


def test_decoding_workers_started_with_spawn_give_the_same_store(tmp_path, monkeypatch):
    """macOS and Windows start the decoding pool with spawn: its tasks pickle, and the store is the same."""
    import multiprocessing

    photos = photo_folder(tmp_path / "photos", per_class=30)
    alone = load_data(DataConfig(image_folder=photos, workers=0), tmp_path / "a")
    monkeypatch.setattr(store_module, "process_context", lambda: multiprocessing.get_context("spawn"))
    spawned = load_data(DataConfig(image_folder=photos, workers=2), tmp_path / "b")
    assert spawned.fingerprint == alone.fingerprint
    np.testing.assert_array_equal(spawned.train.x, alone.train.x)


def test_a_changed_file_makes_a_new_store(tmp_path):
    photos = photo_folder(tmp_path / "photos")
    before = load_data(DataConfig(image_folder=photos), tmp_path / "cache")
    Image.fromarray(np.zeros((16, 20, 3), np.uint8)).save(photos / "cat" / "000.jpeg", "JPEG")
    after = load_data(DataConfig(image_folder=photos), tmp_path / "cache")
    assert after.fingerprint != before.fingerprint


def test_a_corrupt_image_fails_with_its_path_or_is_skipped_and_listed(tmp_path):
    photos = photo_folder(tmp_path / "photos")
    bad = photos / "dog" / "017.jpeg"
    bad.write_bytes(b"not a jpeg at all")
    with pytest.raises(DataError, match=r"dog/017.jpeg: cannot read image \(UnidentifiedImageError\)"):
        load_data(DataConfig(image_folder=photos, workers=2), tmp_path / "cache")
    assert [p.name for p in (tmp_path / "cache").iterdir()] == []  # no partial store left
    data = load_data(DataConfig(image_folder=photos, skip_bad_images=True, workers=2), tmp_path / "cache")
    assert data.labelled_rows == 119 and len(data.skipped_images) == 1 and "dog/017.jpeg" in data.skipped_images[0]
    assert (np.bincount(data.train.y) + np.bincount(data.val.y) + np.bincount(data.test.y)).tolist() == [40, 39, 40]


def test_the_split_and_statistics_match_a_whole_in_memory_pass(digits_npz, tmp_path):
    data = load_data(DataConfig(npz=digits_npz), tmp_path / "cache")
    with np.load(digits_npz) as f:
        x = f["x"][..., None]
    pool = np.concatenate([x[data.train.rows], x[data.transfer.rows]]).astype(np.float64) / 255
    assert data.mean == [round(float(pool.mean()), 6)] and data.std == [round(float(pool.std()), 6)]
    np.testing.assert_array_equal(data.test.x, x[data.test.rows])


def test_the_loader_gives_the_same_batches_with_and_without_workers(digits_npz, tmp_path):
    import torch

    data = load_data(DataConfig(npz=digits_npz), tmp_path / "cache")
    order = np.random.default_rng(0).permutation(len(data.train))
    batches = [order[s : s + 100] for s in range(0, len(order), 100)]
    cpu = torch.device("cpu")
    alone = list(batches_of(data.train, batches, 0, cpu))
    pooled = list(batches_of(data.train, batches, 2, cpu))
    assert len(alone) == len(pooled) == len(batches)
    for (pa, xa), (pb, xb), want in zip(alone, pooled, batches, strict=True):
        assert pa.tolist() == pb.tolist() == want.tolist()
        assert torch.equal(xa, xb)
        expected = to_unit_tensor(data.train.x[want], data.pixel_max)
        assert torch.equal(to_unit(xa, data.pixel_max, cpu), expected)


def test_a_store_another_process_placed_while_this_one_decoded_is_kept(tmp_path):
    """Ranks of two machines on one shared folder decode the same data at once: the first store placed stays
    (the key is the content's), the second process opens it, and no temporary folder is left."""
    x = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4, 1)
    y = np.array([0, 1])

    def ours(folder):
        store_module.write_arrays(folder, x, y, None)
        store_module.cached_store(tmp_path, "k", lambda theirs: store_module.write_arrays(theirs, x + 1, y, None))

    images = store_module.cached_store(tmp_path, "k", ours)
    np.testing.assert_array_equal(images.images, x + 1)  # theirs, placed first
    assert [p.name for p in tmp_path.iterdir()] == ["k"]
