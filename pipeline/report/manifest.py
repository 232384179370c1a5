"""manifest.json: everything an app team needs to call the shipped model, and nothing else."""

from __future__ import annotations

from edgedistill.contracts import (
    ArtifactInfo,
    Int8Drop,
    Manifest,
    ModelTensor,
    Preprocessing,
    Recommendation,
    ShippedFile,
    ShippedModel,
    StudentArch,
    TensorSpec,
)
from edgedistill.devices.profiles import DeviceProfile
from edgedistill.pipeline.data.bundle import DataBundle
from edgedistill.pipeline.tasks import Task


def _tensor(io: TensorSpec, role: str, meaning: str | None = None) -> ModelTensor:
    quantize = dequantize = None
    if io.dtype in ("int8", "uint8"):
        if role == "input":
            lo, hi = (-128, 127) if io.dtype == "int8" else (0, 255)
            quantize = f"q = clip(round(x / scale) + zero_point, {lo}, {hi})"
        else:
            dequantize = "value = (q - zero_point) * scale"
    return ModelTensor(**io.model_dump(), quantize=quantize, dequantize=dequantize, meaning=meaning)


FLOAT_FALLBACKS = ("tflite_fp16", "tflite_fp32", "tflite_dynamic_int8", "onnx")


def recommend(models: list[str], int8_drop: Int8Drop | None, how: str | None = None) -> Recommendation:
    """The model an app team should ship, and why: the full-integer int8 model unless it falls past the
    tolerance below fp32 on the test split; then the smallest float model shipped beside it, if any."""
    if "tflite_int8" not in models:
        return Recommendation(model=models[0], because="no tflite_int8 in export.formats; the first format listed")
    made = f" ({how})" if how else ""
    if int8_drop is None or not int8_drop.past_tolerance:
        within = (
            ""
            if int8_drop is None
            else f", {abs(int8_drop.points):.2f} points {'below' if int8_drop.points >= 0 else 'above'} fp32 "
            f"on the test split, within the tolerance of {int8_drop.tolerance_points:g}"
        )
        return Recommendation(model="tflite_int8", because=f"full-integer int8{made}{within}")
    short = (
        f"tflite_int8{made} is {int8_drop.points:.2f} points below {int8_drop.against} on the test split, "
        f"past the tolerance of {int8_drop.tolerance_points:g}"
    )
    for fmt in FLOAT_FALLBACKS:
        if fmt in models:
            return Recommendation(model=fmt, because=f"{short}; {fmt} keeps fp32 accuracy")
    return Recommendation(
        model="tflite_int8",
        because=f"{short}; no float model was exported to recommend instead (add tflite_fp16 to export.formats)",
    )


def build_manifest(
    *,
    project: str,
    task: Task,
    target: DeviceProfile,
    data: DataBundle,
    arch: StudentArch,
    artifacts: dict[str, ArtifactInfo],
    shipped_as: dict[str, str],
    files: dict[str, ShippedFile],
    recommendation: Recommendation | None = None,
) -> Manifest:
    """artifacts: export's description per format; shipped_as: {format: file name}; files: everything shipped."""
    models = {
        fmt: ShippedModel(
            file=shipped_as[fmt],
            layout=info.layout,
            input=_tensor(info.inputs[0], "input"),
            output=_tensor(info.outputs[0], "output", task.output_meaning(info.outputs[0])),
        )
        for fmt, info in artifacts.items()
    }
    chosen = recommendation or recommend(list(models), None)
    h, w = arch.input_hw
    return Manifest(
        task=task.name,
        project=project,
        target=target,
        recommended_model=chosen.model,
        recommended_because=chosen.because,
        labels=data.class_names,
        preprocessing=Preprocessing(
            **data.preprocessing(arch.input_hw),
            steps=[
                "decode the image; convert to " + ("grayscale" if data.image_shape[2] == 1 else "RGB"),
                f"resize to {w}x{h} (width x height), bilinear",
                "x = (pixel * scale - mean[c]) / std[c] for every channel c, as float32",
                "lay out as the model's 'layout' (NHWC for .tflite, NCHW for .onnx) with batch 1",
                "for an int8 or uint8 input, quantize x with the input's scale and zero_point; a float32 input takes x as it is",
            ],
        ),
        models=models,
        files=files,
    )
