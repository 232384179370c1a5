from __future__ import annotations

import io

import numpy as np
from PIL import Image

from edgedistill.pipeline.data.synthetic import image_grid_png


def _grid(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(image_grid_png(x, y, num_classes=3, per_class=2))))


def test_the_grid_has_a_row_per_class_in_label_order_and_keeps_small_images_pixels():
    x = np.zeros((6, 8, 8, 1), np.uint8)
    y = np.array([2, 0, 1, 0, 2, 1])
    x[:, :, :, 0] = (y * 100)[:, None, None]  # every image the grey of its class
    grid = _grid(x, y)
    tile = 48  # 8 px enlarged 6 times, nearest: each pixel kept
    assert grid.shape == (3 * (tile + 2) + 2, 2 * (tile + 2) + 2, 3)
    for cls in range(3):
        for k in range(2):
            top, left = 2 + cls * (tile + 2), 2 + k * (tile + 2)
            assert (grid[top : top + tile, left : left + tile] == cls * 100).all()


def test_large_and_float_images_are_shrunk_to_thumbnails():
    y = np.array([0, 1, 2])
    photos = np.random.default_rng(0).random((3, 224, 160, 3)).astype(np.float32)  # float pixels in 0..1
    grid = _grid(photos, y)
    assert grid.shape == (3 * (48 + 2) + 2, 2 * (34 + 2) + 2, 3)  # 224x160 -> 48x34; one image per class


def test_a_data_free_build_is_measured_on_the_source_s_test_split_or_on_all_of_it(tmp_path, digits_npz):
    """data.synthetic.test: `split` keeps the source's test split (the rest may be what the teacher learnt from);
    `source` measures on every image of a source that holds test images alone."""
    from edgedistill.pipeline.config import DataConfig
    from edgedistill.pipeline.data.bundle import load_data
    from edgedistill.pipeline.data.synthetic import synthetic_bundle

    real = load_data(DataConfig(npz=digits_npz), tmp_path / "data")
    made = tmp_path / "synthetic.npz"
    np.savez(made, x=np.zeros((40, 8, 8, 1), np.uint8), y=np.arange(40) % 10)
    kept = synthetic_bundle(real, made, "sha", 0.1, 0, tmp_path / "data")
    assert np.array_equal(kept.test.rows, real.test.rows) and len(kept.train) + len(kept.val) == 40
    whole = synthetic_bundle(real, made, "sha", 0.1, 0, tmp_path / "data", whole_source_test=True)
    assert whole.test.rows.tolist() == list(range(1797))
    with np.load(digits_npz) as source:
        assert np.array_equal(whole.test.y, source["y"]) and np.array_equal(whole.test.x[..., 0], source["x"])
    assert whole.fingerprint != kept.fingerprint and len(whole.train) == len(kept.train)
    assert "; test split: " in kept.source and "; test: every image of " in whole.source
