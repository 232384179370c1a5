from __future__ import annotations

import numpy as np

from edgedistill.benchmarks.suites.int8_recovery import (
    CLASSES,
    SIDE,
    class_band,
    crop_left,
    make_gratings,
    make_photo_crops,
)


def test_the_task_is_the_same_for_the_same_seed_and_holds_glare(tmp_path):
    a = np.load(make_gratings(tmp_path / "a.npz", 200))
    b = np.load(make_gratings(tmp_path / "b.npz", 200))
    assert np.array_equal(a["x"], b["x"]) and np.array_equal(a["y"], b["y"])
    assert a["x"].shape == (200, SIDE, SIDE, 3) and a["x"].dtype == np.uint8
    assert set(np.unique(a["y"])) == set(range(CLASSES))
    saturated = ((a["x"] == 0) | (a["x"] == 255)).all(axis=-1).reshape(200, -1).sum(1) >= 64  # an 8x8 patch or more
    assert 0.1 < saturated.mean() < 0.35  # about a fifth of the images carry a glare patch
    assert not np.array_equal(np.load(make_gratings(tmp_path / "c.npz", 200, seed=1))["x"], a["x"])


def test_photo_crops_are_the_same_for_the_same_seed_and_cover_every_class(tmp_path):
    a = np.load(make_photo_crops(tmp_path / "a.npz", 100))
    b = np.load(make_photo_crops(tmp_path / "b.npz", 100))
    assert np.array_equal(a["x"], b["x"]) and a["x"].shape == (100, SIDE, SIDE, 3)
    assert set(np.unique(a["y"])) == set(range(CLASSES)) and a["x"].std() > 20  # real texture, not flat


def test_photo_crops_are_centred_away_from_the_borders_between_classes():
    width, rng = 640, np.random.default_rng(0)
    for c in range(CLASSES):
        lo, hi = class_band(c, width)
        fifth = (c % 5) * width // 5, (c % 5 + 1) * width // 5
        assert fifth[0] < lo < hi < fifth[1]
        for size in (48, 80, 111):
            for _ in range(200):
                x0 = crop_left(c, width, size, rng)
                assert 0 <= x0 <= width - size
                centre = x0 + size // 2
                # centred in the band, unless the photo's own edge pushed the crop inwards
                assert lo <= centre < hi or (x0 == 0 and c % 5 == 0) or (x0 == width - size and c % 5 == 4)
