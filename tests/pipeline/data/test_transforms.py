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
