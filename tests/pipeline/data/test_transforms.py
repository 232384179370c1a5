from __future__ import annotations

import numpy as np

from edgedistill.pipeline.config import DataConfig
from edgedistill.pipeline.data import transforms
from edgedistill.pipeline.data.bundle import load_data
from edgedistill.pipeline.data.transforms import preprocess, preprocessed_batches, preprocessed_chunk


def test_chunks_are_sized_by_the_larger_float_copy_not_by_the_view():
    """Photos at 224x224 shown to a student at 96x96 pass through a float copy at 224x224 first: that copy, not
    the view's, sets the chunk (it swung verify's memory by 0.9 GB at 2,000 test photos)."""
    budget = transforms.PREPROCESSED_CHUNK_BYTES
    photos = preprocessed_chunk((224, 224, 3), (96, 96))
    assert photos * 4 * 3 * 224 * 224 <= budget < (photos + 1) * 4 * 3 * 224 * 224
    digits = preprocessed_chunk((28, 28, 1), (96, 96))  # upsampled: the view is the larger copy
    assert digits * 4 * 96 * 96 <= budget < (digits + 1) * 4 * 96 * 96
    assert preprocessed_chunk((4000, 4000, 3), (96, 96)) == 1


def test_a_split_streamed_in_chunks_is_the_split_preprocessed_at_once(digits_npz, monkeypatch):
    data = load_data(DataConfig(npz=digits_npz))
    monkeypatch.setattr(transforms, "PREPROCESSED_CHUNK_BYTES", 4 * 12 * 12 * 50)  # 50 images a chunk
    chunks = list(preprocessed_batches(data.test, data, (12, 12)))
    assert len(chunks) == -(-len(data.test) // 50) and {len(c) for c in chunks[:-1]} == {50}
    np.testing.assert_array_equal(np.concatenate(chunks), preprocess(data.test.x, data, (12, 12)))


def test_scaling_to_unit_copies_once_and_never_writes_the_raw_images():
    """One float copy, divided in place: a float single-channel batch, whose NCHW view is already contiguous and
    already float, must still not be divided in place (it may be a view of the store)."""
    import torch

    from edgedistill.pipeline.data.loader import to_unit

    raw = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4, 1) * 1000
    kept = raw.copy()
    for x in (transforms.to_unit_tensor(raw, 65535.0), to_unit(torch.from_numpy(raw), 65535.0, torch.device("cpu"))):
        np.testing.assert_array_equal(raw, kept)
        assert x.is_contiguous() and x.shape == (2, 1, 3, 4)
        np.testing.assert_allclose(x.numpy(), kept.transpose(0, 3, 1, 2) / 65535.0, rtol=1e-6)
    rgb = np.random.default_rng(0).integers(0, 256, (2, 5, 6, 3), dtype=np.uint8)
    x = transforms.to_unit_tensor(rgb, 255.0)
    assert x.is_contiguous() and x.dtype == torch.float32
    np.testing.assert_array_equal(x.numpy(), rgb.transpose(0, 3, 1, 2).astype(np.float32) / 255.0)
