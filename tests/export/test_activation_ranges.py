from __future__ import annotations

import torch

from edgedistill.export.inspect_tflite import float_ops, io_details
from edgedistill.export.tflite_export import ACTIVATION_RANGES, export_tflite_int8
from edgedistill.students import build_student


def test_a_far_outlier_stretches_minmax_and_histogram_ranges_and_the_moving_average_dilutes_it(tmp_path):
    """One pixel of one calibration sample far out (a glare): min-max holds it; so does the histogram range,
    whose L2 criterion weighs one large clipping error above a finer step for every other value; the moving
    average over the samples dilutes it. Which one serves accuracy is a question for the validation split."""
    torch.manual_seed(0)
    model = build_student("dscnn", num_classes=4, in_channels=3, input_size=16)
    calibration = [torch.randn(1, 3, 16, 16) for _ in range(64)]
    calibration[7][0, 1, 5, 5] = 60.0
    scale = {}
    for ranges in ACTIVATION_RANGES:
        path = tmp_path / f"{ranges}.tflite"
        assert export_tflite_int8(model, (3, 16, 16), calibration, path, activation_ranges=ranges) == 64
        assert float_ops(path) == []
        scale[ranges] = io_details(path)["inputs"][0]["scale"]
    assert scale["minmax"] >= scale["histogram"] > 5 * scale["moving_average"]
