from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from edgedistill.errors import DataError
from edgedistill.pipeline.config import DataConfig
from edgedistill.pipeline.data.bundle import UNLABELED, load_data, stratified_split
from edgedistill.pipeline.data.transforms import preprocess


def test_split_is_deterministic_stratified_and_disjoint():
    y = np.repeat(np.arange(5), 40)
    a = stratified_split(y, 0.1, 0.2, seed=3)
    b = stratified_split(y, 0.1, 0.2, seed=3)
    c = stratified_split(y, 0.1, 0.2, seed=4)
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not np.array_equal(a[2], c[2])
    train, val, test = a
    assert len(set(train) | set(val) | set(test)) == len(y) == len(train) + len(val) + len(test)
    assert np.bincount(y[test]).tolist() == [8] * 5 and np.bincount(y[val]).tolist() == [4] * 5


def test_npz_source_and_preprocessing(digits_npz):
    data = load_data(DataConfig(npz=digits_npz))
    assert data.num_classes == 10 and data.image_shape == (8, 8, 1) and data.pixel_max == 255.0
    assert len(data.train) + len(data.val) + len(data.test) == 1797
    x = preprocess(data.test.x[:3], data)
    assert x.shape == (3, 1, 8, 8) and x.dtype == np.float32
    expected = (data.test.x[:3, :, :, 0] / 255.0 - data.mean[0]) / data.std[0]
    assert np.allclose(x[:, 0], expected, atol=1e-5)
    # the computed normalisation standardises the training split
    train = preprocess(data.train.x, data)
    assert abs(train.mean()) < 1e-3 and abs(train.std() - 1) < 1e-2
    assert preprocess(data.test.x[:2], data, (16, 16)).shape == (2, 1, 16, 16)


def test_same_data_same_fingerprint_other_split_other_fingerprint(digits_npz):
    a = load_data(DataConfig(npz=digits_npz))
    b = load_data(DataConfig(npz=digits_npz))
    c = load_data(DataConfig(npz=digits_npz, split={"seed": 1}))
    assert a.fingerprint == b.fingerprint != c.fingerprint


def _write_images(root, sizes):
    for cls, size_list in sizes.items():
        (root / cls).mkdir(parents=True)
        for i, (w, h) in enumerate(size_list):
            Image.fromarray(np.full((h, w, 3), 20 * i, np.uint8)).save(root / cls / f"{i}.png")


def test_image_folder_reads_classes_from_subfolders(tmp_path):
    _write_images(tmp_path, {"cat": [(10, 10)] * 10, "dog": [(10, 10)] * 10})
    data = load_data(DataConfig(image_folder=tmp_path, image_size=(6, 6)))
    assert data.class_names == ["cat", "dog"] and data.image_shape == (6, 6, 3)


def test_image_folder_with_mixed_sizes_needs_image_size(tmp_path):
    _write_images(tmp_path, {"a": [(10, 10)] * 10, "b": [(10, 10), (12, 9)] + [(10, 10)] * 8})
    with pytest.raises(DataError, match=r"1.png: image is 12x9 but others are 10x10; set data.image_size"):
        load_data(DataConfig(image_folder=tmp_path))
    assert load_data(DataConfig(image_folder=tmp_path, image_size=(8, 8))).image_shape == (8, 8, 3)


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"x": np.zeros((10, 4, 4), np.uint8)}, "needs arrays 'x' and 'y'"),
        ({"x": np.zeros((10, 4, 4), np.uint8), "y": np.zeros(9, np.int64)}, "one label per image"),
        ({"x": np.zeros((10, 4, 4), np.uint8), "y": np.zeros(10, np.float32)}, "integer class labels"),
        ({"x": np.full((10, 4, 4), 3.0, np.float32), "y": np.arange(10) % 2}, "float images must lie in [0, 1]"),
        ({"x": np.zeros((10, 4, 4, 2), np.uint8), "y": np.arange(10) % 2}, "x must have shape"),
        ({"x": np.zeros((40, 4, 4), np.uint8), "y": np.zeros(40, np.int64)}, "at least 2 classes"),
        ({"x": np.zeros((0, 4, 4), np.uint8), "y": np.zeros(0, np.int64)}, "empty"),
    ],
)
def test_bad_npz_is_refused_with_the_reason(tmp_path, arrays, message):
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError) as info:
        load_data(DataConfig(npz=path))
    assert message in str(info.value)


def test_labels_out_of_range(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((40, 4, 4), np.uint8), y=np.arange(40) % 4)
    with pytest.raises(DataError, match=r"labels must lie in 0..2, found 0..3"):
        load_data(DataConfig(npz=path, labels=["a", "b", "c"]))


def test_corrupt_npz(tmp_path):
    path = tmp_path / "d.npz"
    path.write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(DataError, match="not a readable .npz"):
        load_data(DataConfig(npz=path))


def test_preprocess_resizes_like_training(digits_npz):
    import torch

    from edgedistill.pipeline.data.transforms import make_normalizer, to_unit_tensor

    data = load_data(DataConfig(npz=digits_npz))
    raw = data.test.x[:4]
    expected = make_normalizer(data.mean, data.std, (12, 12))(to_unit_tensor(raw, data.pixel_max))
    assert torch.equal(torch.from_numpy(preprocess(raw, data, (12, 12))), expected)


def test_labeled_fraction_keeps_a_per_class_share_and_moves_the_rest_to_the_transfer_set(digits_npz):
    full = load_data(DataConfig(npz=digits_npz))
    few = load_data(DataConfig(npz=digits_npz, labeled_fraction=0.1))
    assert np.array_equal(few.val.rows, full.val.rows) and np.array_equal(few.test.rows, full.test.rows)
    counts = np.bincount(few.train.y, minlength=10)
    assert counts.sum() == len(few.train) and all(
        abs(c - 0.1 * f) <= 1 for c, f in zip(counts, np.bincount(full.train.y))
    )
    assert len(few.train) + len(few.transfer) == len(full.train)
    assert set(few.train.rows) | set(few.transfer.rows) == set(full.train.rows)
    assert (few.transfer.y == UNLABELED).all() and few.source_rows == full.source_rows == 1797
    assert np.array_equal(
        few.transfer.x, load_data(DataConfig(npz=digits_npz)).train.x[np.isin(full.train.rows, few.transfer.rows)]
    )
    assert few.fingerprint != full.fingerprint


def test_unlabeled_npz_joins_the_transfer_set_after_the_labelled_rows(tmp_path, digits_npz):
    extra = np.random.default_rng(0).integers(0, 256, (30, 8, 8), dtype=np.uint8)
    np.savez(tmp_path / "u.npz", x=extra)
    data = load_data(DataConfig(npz=digits_npz, unlabeled=tmp_path / "u.npz"))
    assert len(data.transfer) == 30 and data.unlabeled_rows == 30 and data.source_rows == 1797 + 30
    assert data.transfer.rows.tolist() == list(range(1797, 1827))
    assert np.array_equal(data.transfer.x[..., 0], extra)
    assert len(data.train) == len(load_data(DataConfig(npz=digits_npz)).train)


def test_unlabeled_image_folder_is_searched_recursively_and_resized(tmp_path):
    _write_images(tmp_path / "labelled", {"a": [(10, 10)] * 6, "b": [(10, 10)] * 6})
    for sub in ("x", "x/y"):
        (tmp_path / "pool" / sub).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "pool" / sub / "img.png")
    data = load_data(DataConfig(image_folder=tmp_path / "labelled", unlabeled=tmp_path / "pool", image_size=(10, 10)))
    assert data.transfer.x.shape == (2, 10, 10, 3)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: np.savez(p / "u.npz", images=np.zeros((3, 8, 8), np.uint8)), "needs an array 'x'"),
        (lambda p: np.savez(p / "u.npz", x=np.zeros((3, 9, 9), np.uint8)), "set data.image_size"),
        (lambda p: np.savez(p / "u.npz", x=np.zeros((3, 8, 8), np.float32)), "store both the same way"),
        (lambda p: (p / "u.npz").write_bytes(b"junk"), "not a readable .npz"),
        (lambda p: None, "data.unlabeled not found"),
    ],
)
def test_bad_unlabeled_data_is_one_clear_error(tmp_path, digits_npz, make, message):
    make(tmp_path)
    with pytest.raises(DataError, match=message):
        load_data(DataConfig(npz=digits_npz, unlabeled=tmp_path / "u.npz"))
