"""PyTorch -> TFLite with litert-torch: fp32, and full-integer int8 through PT2E quantization;
fp16 weights and dynamic-range int8 from the fp32 .tflite with ai-edge-quantizer.

Both take NHWC input (the layout TFLite kernels use; no TRANSPOSE at the input). The int8 flow:
per-channel symmetric weights, static activations calibrated on real samples, int8 input and
output. `torch.export(strict=True)` matters: strict=False leaves residual ADDs and MEANs in float.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

from edgedistill.export.native_logs import native_logs_to
from edgedistill.fsutil import atomic_path

os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")
# torchao warns about CUDA-only kernels it cannot load on a CPU build; torch's pytree about an enum
for _noisy in ("torchao", "torch.utils._pytree"):
    logging.getLogger(_noisy).setLevel(logging.ERROR)


def channel_last(model: nn.Module) -> nn.Module:
    """The model taking NHWC input (the layout TFLite kernels use), in eval mode."""
    import litert_torch

    return litert_torch.to_channel_last_io(model.eval(), args=[0]).eval()


def export_tflite_fp32(
    model: nn.Module, input_shape_nchw: tuple[int, ...], dest: Path, log: Path | None = None
) -> None:
    import litert_torch

    c, h, w = input_shape_nchw
    sample = (torch.zeros(1, h, w, c),)
    with native_logs_to(log), atomic_path(dest) as tmp:
        litert_torch.convert(channel_last(model), sample).export(str(tmp))


# how post-training quantization sets each activation tensor's range from the calibration samples
ACTIVATION_RANGES = ("histogram", "minmax", "moving_average")


def quantizer_config(qat: bool = False, activation_ranges: str = "histogram"):
    """Per-channel symmetric int8 weights, static int8 activations (fake-quantized for training when qat).

    activation_ranges (PTQ): histogram, litert-torch's default (the range that minimises the L2 error of the
    quantized histogram: clips rare outliers); minmax (every value seen, outliers included); moving_average
    (min and max averaged over the calibration batches)."""
    import dataclasses

    from litert_torch.quantize.pt2e_quantizer import get_symmetric_quantization_config
    from torchao.quantization.pt2e.observer import MinMaxObserver, MovingAverageMinMaxObserver

    config = get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False, is_qat=qat)
    if qat or activation_ranges == "histogram":
        return config
    observer = {"minmax": MinMaxObserver, "moving_average": MovingAverageMinMaxObserver}[activation_ranges]
    spec = dataclasses.replace(config.input_activation, observer_or_fake_quant_ctr=observer.with_args(eps=2**-12))
    return dataclasses.replace(config, input_activation=spec, output_activation=spec)


def write_quantized_tflite(converted: nn.Module, input_shape_nchw: tuple[int, ...], quantizer, dest: Path) -> None:
    """A graph out of convert_pt2e (NHWC input) written as a full-integer .tflite."""
    import litert_torch
    from litert_torch.quantize.quant_config import QuantConfig
    from torchao.quantization.pt2e import move_exported_model_to_eval

    c, h, w = input_shape_nchw
    quantized = move_exported_model_to_eval(converted)
    for module in quantized.modules():  # exported graphs keep training=True though their ops are eval-mode
        module.training = False
    with atomic_path(dest) as tmp:
        litert_torch.convert(
            quantized, (torch.zeros(1, h, w, c),), quant_config=QuantConfig(pt2e_quantizer=quantizer)
        ).export(str(tmp))


def export_tflite_int8(
    model: nn.Module,
    input_shape_nchw: tuple[int, ...],
    calibration: Iterable[torch.Tensor],
    dest: Path,
    log: Path | None = None,
    activation_ranges: str = "histogram",
) -> int:
    """Quantize with calibration samples (each NCHW, batch 1) and write a full-integer int8 .tflite.

    Returns the number of calibration samples used.
    """
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    c, h, w = input_shape_nchw
    sample = (torch.zeros(1, h, w, c),)
    quantizer = PT2EQuantizer().set_global(quantizer_config(activation_ranges=activation_ranges))
    with native_logs_to(log):
        exported = torch.export.export(channel_last(model), sample, strict=True).module()
        prepared = prepare_pt2e(exported, quantizer)
        count = 0
        with torch.no_grad():
            for x in calibration:
                prepared(x.permute(0, 2, 3, 1).contiguous())
                count += 1
        write_quantized_tflite(convert_pt2e(prepared, fold_quantize=False), input_shape_nchw, quantizer, dest)
    return count


def _fp16_weights_recipe() -> list[dict]:
    """Weights stored as float16 and dequantized once at load; compute stays float32."""
    return [
        {
            "regex": ".*",
            "operation": "*",
            "algorithm_key": "float_casting",
            "op_config": {
                "weight_tensor_config": {"num_bits": 16, "dtype": "FLOAT"},
                "compute_precision": "FLOAT",
                "explicit_dequantize": True,
                "skip_checks": False,
                "min_weight_elements": 0,
            },
        }
    ]


def export_tflite_from_fp32(fp32: Path, dest: Path, scheme: str, log: Path | None = None) -> None:
    """Rewrite an fp32 .tflite as 'fp16' (float16 weights) or 'dynamic_int8' (int8 weights, per channel;
    activations quantized on the fly where a kernel supports it, float elsewhere). Neither needs calibration."""
    from ai_edge_quantizer import quantizer, recipe

    recipes = {"fp16": _fp16_weights_recipe, "dynamic_int8": recipe.dynamic_wi8_afp32}
    q = quantizer.Quantizer(str(fp32))
    q.load_quantization_recipe(recipes[scheme]())
    with native_logs_to(log):
        result = q.quantize(enable_progress_bar=False, enable_progress_report=False)
    with atomic_path(dest) as tmp:
        Path(tmp).write_bytes(result.quantized_model)
