"""manifest.json: everything an app team needs to call the shipped model, and nothing else."""

from __future__ import annotations

from typing import Any

from edgedistill.devices.profiles import DeviceProfile
from edgedistill.pipeline.data.bundle import DataBundle

MANIFEST_SCHEMA = 1


def _tensor(io: dict[str, Any], role: str) -> dict[str, Any]:
    entry = dict(io)
    if io["dtype"] in ("int8", "uint8"):
        if role == "input":
            lo, hi = (-128, 127) if io["dtype"] == "int8" else (0, 255)
            entry["quantize"] = f"q = clip(round(x / scale) + zero_point, {lo}, {hi})"
        else:
            entry["dequantize"] = "value = (q - zero_point) * scale"
    return entry


FLOAT_FALLBACKS = ("tflite_fp16", "tflite_fp32", "tflite_dynamic_int8", "onnx")


def recommend(models: list[str], int8_drop: dict[str, Any] | None, how: str | None = None) -> tuple[str, str]:
    """(the model an app team should ship, why): the full-integer int8 model unless it falls past the
    tolerance below fp32 on the test split; then the smallest float model shipped beside it, if any."""
    if "tflite_int8" not in models:
        return models[0], "no tflite_int8 in export.formats; the first format listed"
    made = f" ({how})" if how else ""
    if int8_drop is None or not int8_drop["past_tolerance"]:
        within = (
            ""
            if int8_drop is None
            else f", {abs(int8_drop['points']):.2f} points {'below' if int8_drop['points'] >= 0 else 'above'} fp32 "
            f"on the test split, within the tolerance of {int8_drop['tolerance_points']:g}"
        )
        return "tflite_int8", f"full-integer int8{made}{within}"
    short = (
        f"tflite_int8{made} is {int8_drop['points']:.2f} points below {int8_drop['against']} on the test split, "
        f"past the tolerance of {int8_drop['tolerance_points']:g}"
    )
    for fmt in FLOAT_FALLBACKS:
        if fmt in models:
            return fmt, f"{short}; {fmt} keeps fp32 accuracy"
    return (
        "tflite_int8",
        f"{short}; no float model was exported to recommend instead (add tflite_fp16 to export.formats)",
    )


def build_manifest(
    *,
    project: str,
    target: DeviceProfile,
    data: DataBundle,
    arch: dict[str, Any],
    artifacts: dict[str, Any],
    files: dict[str, dict],
    recommendation: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """artifacts: export metadata per format; files: {file name: {sha256, size_bytes}} of everything shipped."""
    models = {}
    for fmt, info in artifacts.items():
        models[fmt] = {
            "file": info["file"],
            "layout": info["layout"],
            "input": _tensor(info["inputs"][0], "input"),
            "output": {
                **_tensor(info["outputs"][0], "output"),
                "meaning": "class logits in label order; argmax is the prediction",
            },
        }
    return {
        "schema": MANIFEST_SCHEMA,
        "project": project,
        "target": target.to_dict(),
        "recommended_model": (recommendation or recommend(list(models), None))[0],
        "recommended_because": (recommendation or recommend(list(models), None))[1],
        "labels": data.class_names,
        "preprocessing": {
            **data.preprocessing(tuple(arch["input_hw"])),
            "steps": [
                "decode the image; convert to " + ("grayscale" if data.image_shape[2] == 1 else "RGB"),
                f"resize to {arch['input_hw'][1]}x{arch['input_hw'][0]} (width x height), bilinear",
                "x = (pixel * scale - mean[c]) / std[c] for every channel c, as float32",
                "lay out as the model's 'layout' (NHWC for .tflite, NCHW for .onnx) with batch 1",
                "for an int8 or uint8 input, quantize x with the input's scale and zero_point; a float32 input takes x as it is",
            ],
        },
        "models": models,
        "files": files,
    }
