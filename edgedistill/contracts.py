"""The typed contracts between the house's rooms: the student's architecture, what each stage outputs, the
runner's JSON, report.json and manifest.json.

Every model here refuses unknown fields and, but for the budget search's candidates (which the search fills
in as it goes), is frozen; change one with `updated`, which validates, so a typo or a renamed field fails
where the value is made, not as a KeyError at the end of a long build. This module imports nothing from the
house (it is the ground floor) and is type-checked strictly (`mypy --strict`, run by `make test`).

Metric values that depend on the task (classification: `accuracy`, `agreement_with_student`; detection:
`map`, ...) are named by the task (`pipeline/tasks/`): the entries that carry them accept extra fields, every
one a number.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator
from pydantic.dataclasses import dataclass

# report.json and manifest.json: bump when a field is renamed, removed or changes meaning
REPORT_SCHEMA_VERSION: Literal[2] = 2
MANIFEST_SCHEMA_VERSION: Literal[2] = 2
# a stage cache entry's record (record.json): bump when the stage outputs below change shape, so that old
# entries are rebuilt rather than misread
RECORD_FORMAT = 2

Metrics = dict[str, float]  # a task's metrics, by the names the task gives them
M = TypeVar("M", bound=BaseModel)

# every field is written, defaults included: the published schemas require them all
STRICT = ConfigDict(frozen=True, extra="forbid", json_schema_serialization_defaults_required=True)


class Contract(BaseModel):
    model_config = STRICT


def updated(model: M, **changes: Any) -> M:
    """A copy of `model` with `changes`, validated like a new one (pydantic's model_copy checks nothing)."""
    return type(model).model_validate({**model.model_dump(), **changes})


class WithMetrics(BaseModel):
    """An entry that also carries the task's metrics as fields of their own (numbers only)."""

    model_config = ConfigDict(frozen=True, extra="allow", json_schema_serialization_defaults_required=True)
    __pydantic_extra__: dict[str, float] = Field(init=False)

    def metric(self, name: str) -> float | None:
        """The metric, or None where it was not measured (a split without labels): renderers show it as missing."""
        return (self.__pydantic_extra__ or {}).get(name)

    def metrics(self) -> Metrics:
        return dict(self.__pydantic_extra__ or {})


# ---- the student ---------------------------------------------------------------------------------------------


class EpochRecord(Contract):
    """One epoch of training: its mean loss and the validation score it reached."""

    epoch: int
    loss: float
    val_accuracy: float


History = list[EpochRecord]


class StudentArch(Contract):
    """Everything needed to rebuild a registry student (saved beside its state_dict)."""

    name: str
    num_classes: int
    in_channels: int
    input_size: int
    input_hw: tuple[int, int]
    width: float
    options: dict[str, Any] = Field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one input."""
        return (self.in_channels, *self.input_hw)

    @property
    def label(self) -> str:
        """How a report names it: 'dscnn w0.5 at 28x28', with its options when it has any."""
        options = "".join(f", {k}={v}" for k, v in sorted(self.options.items()))
        return f"{self.name} w{self.width:g} at {self.input_hw[0]}x{self.input_hw[1]}{options}"


# ---- stage outputs -------------------------------------------------------------------------------------------


class SampleCounts(Contract):
    labelled: int
    transfer: int


class PruneMeasure(Contract):
    step: int
    params: int
    macs: int
    val_accuracy: float
    groups_pruned: int | None = None
    touched: list[str] | None = None
    val_accuracy_before_finetune: float | None = None


class UnstructuredPruning(Contract):
    share: float
    weight_sparsity: float
    val_accuracy_before_finetune: float
    val_accuracy: float
    note: str


class PruningSummary(Contract):
    ratio: float | None
    importance: str | None
    round_to: int
    before: PruneMeasure
    steps: list[PruneMeasure]
    unstructured: UnstructuredPruning | None


class CohortMember(Contract):
    """One student of a mutual-learning cohort, measured at the cohort's best epoch."""

    arch: StudentArch
    params: int
    macs: int
    val_accuracy: float
    test_accuracy: float
    shipped: bool  # the best on validation: the one the build goes on with


class TrainedStudent(Contract):
    """distill's output (and prune's, with `pruning`): a student trained from a teacher."""

    arch: StudentArch
    teacher: str
    params: int
    macs: int
    samples: SampleCounts
    teacher_outputs: str
    best_epoch: int
    val_accuracy: float
    history: History
    pruning: PruningSummary | None = None
    cohort: list[CohortMember] = Field(
        default_factory=list, description="distillation.mode mutual: every member of the cohort; empty otherwise"
    )


class SynthesizedData(Contract):
    """synthesize's output: training and validation images made from the teacher (data-free distillation)."""

    images: int
    per_class: int
    steps: int  # optimisation steps per batch
    teacher_agreement: float  # % of the images the teacher assigns the class each was made for
    seconds: float


class BaselineStudent(Contract):
    """baseline's output: the same student trained on the labels alone."""

    arch: StudentArch
    params: int
    macs: int
    labelled_samples: int
    best_epoch: int
    val_accuracy: float
    test_accuracy: float
    history: History


class TensorSpec(Contract):
    name: str
    shape: list[int]
    dtype: str
    scale: float
    zero_point: int


class PTQChoice(Contract):
    kept: str
    activation_ranges: str
    equalized: bool
    val_accuracy: dict[str, float]
    equalization: dict[str, Any] | None = None


class ValidationScores(Contract):
    accuracy: float
    fp32_accuracy: float


class CalibrationCandidate(Contract):
    val_accuracy: float
    val_agreement_with_fp32: float


class OnnxCalibration(Contract):
    method: str
    equalized: bool | None = None
    chosen_by: str | None = None
    candidates: dict[str, CalibrationCandidate] | None = None
    equalization: dict[str, Any] | None = None


class ArtifactInfo(Contract):
    """An exported file as export describes it: layout, sizes, tensors, and how an int8 model was made."""

    format: str
    layout: Literal["NCHW", "NHWC"]
    size_bytes: int
    gzip_bytes: int
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    io_dtype: str | None = None
    method: str | None = None
    calibration: OnnxCalibration | None = None
    ptq: PTQChoice | None = None
    val: ValidationScores | None = None


class QATSummary(Contract):
    val_accuracy: float
    fake_quant_val_accuracy: float
    epochs: int
    lr: float
    teacher: str
    history: History


class QATResult(QATSummary):
    """qat's output: the quantization-aware trained int8 model's numbers."""

    observers_fixed_from_epoch: int | None
    best_epoch: int


class QATVerdict(Contract):
    """Whether QAT runs after export's PTQ model, and why."""

    mode: str
    run_qat: bool
    why: str
    ptq_val_accuracy: float | None = None
    fp32_val_accuracy: float | None = None


class Int8Choice(Contract):
    """Which int8 model ships (PTQ or QAT) and why (report.json -> quantization)."""

    mode: str
    why: str
    ptq_val_accuracy: float | None = None
    fp32_val_accuracy: float | None = None
    qat: QATSummary | None = None
    qat_seconds: float | None = None
    shipped: Literal["ptq", "qat"]
    shipped_because: str


class ExportResult(Contract):
    """export's output (and int8_choice's, with `int8_choice`): one entry per shipped format."""

    artifacts: dict[str, ArtifactInfo]
    calibration_samples: int | None = None
    int8_choice: Int8Choice | None = None


class VerifiedArtifact(WithMetrics):
    """An artifact's task metrics on the test split and its agreement with the PyTorch student (extra fields),
    and for tflite_int8 the int8 gate's verdict."""

    int8_gate: str | None = None


class Int8Drop(Contract):
    points: float
    against: str
    tolerance_points: float
    past_tolerance: bool


class LayerError(Contract):
    position: int  # the op's index in the int8 graph
    layer: str
    op: str
    shape: list[int]
    sqnr_db: float
    cosine: float


class LayerErrors(Contract):
    drop_vs_fp32_points: float
    tolerance_points: float
    reference: str
    samples: int
    metric: str
    worst_first: list[LayerError]


class VerifyResult(Contract):
    """verify's output: every model's task metrics on the test split, the int8 drop and its diagnosis."""

    test_samples: int
    teacher: Metrics
    student: Metrics
    artifacts: dict[str, VerifiedArtifact]
    int8_drop: Int8Drop | None = None
    int8_layer_errors: LayerErrors | None = None


# ---- the runner's JSON (benchmarks/runner.py, or TFLite's benchmark_model parsed) -------------------------------


class LatencySummary(Contract):
    min: float | None
    p50: float | None
    p90: float | None
    p99: float | None
    mean: float | None
    std: float | None


class RunnerResult(Contract):
    """One model measured by the runner (or by benchmark_model, parsed into the same shape)."""

    schema_: int = Field(alias="schema")
    tool: str
    model: str
    model_bytes: int | None
    runtime: str
    runtime_version: str | None
    threads: int | None
    xnnpack: bool | None
    init_ms: float | None
    first_inference_ms: float | None
    warmup_runs: int | None
    warmup_mean_ms: float | None
    runs: int | None
    rounds: int
    round_medians_ms: list[float]
    latency_ms: LatencySummary
    samples_ms: list[float]
    peak_rss_kb: int | None
    machine: str | None
    cpu: str | None = None
    python: str | None
    memory_footprint_mb: dict[str, float] | None = None
    outputs: list[Any] | None = None

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        populate_by_name=True,
        serialize_by_alias=True,
        json_schema_serialization_defaults_required=True,
    )


class HostBenchmark(Contract):
    """benchmark's output: every artifact measured on the host."""

    device: str
    machine: str
    threads: int
    artifacts: dict[str, RunnerResult]


class DeviceMeasurement(Contract):
    """The TFLite artifacts measured on a device over SSH or adb."""

    device: str
    target: str
    threads: int
    runtime: str
    artifacts: dict[str, RunnerResult]


# ---- report.json -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, config=ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True))
class DeviceProfile:
    """A target device: what a build is optimised and measured for (the registry is devices/profiles.py)."""

    name: str
    description: str
    os: str
    arch: str
    cpu: str
    cores: int
    ram_mb: int
    threads: int  # default inference threads on the device
    transport: str = "ssh"  # how it is usually reached: "ssh" or "adb"
    runtime: str = "python"  # "python": benchmarks/runner.py; "benchmark_model": TFLite's native binary
    cpu_mask: str | None = None  # taskset mask of the big cores to pin the benchmark to (hex, e.g. "f0")


class SkippedFiles(Contract):
    """What an image folder holds that the build does not read (hidden files aside): files of a type it does not
    decode (.heic, .avif, .txt, ...) or outside a class folder, and folders nested inside a class folder (only
    the class folder's own files are read)."""

    folder: str
    files: int
    by_extension: dict[str, int]  # lower-case extension ("" for none) -> files; the 10 most common, "other" the rest
    outside_class_folders: int  # of `files`: directly in the image folder, in no class folder
    nested_folders: int
    nested_folder_examples: list[str]  # the first few, relative to `folder`


class DataSummary(Contract):
    source: str
    classes: list[str]
    image_shape_hwc: list[int]
    train: int
    transfer_unlabeled: int
    val: int
    test: int
    skipped_images: list[str] | None = None
    skipped_files: list[SkippedFiles] | None = None  # per image folder (labelled, data.unlabeled); null: none skipped
    warnings: list[str] | None = None  # about the data (files skipped, classes too small for the split); null: none


class TeacherReport(WithMetrics):
    """The teacher, and its task metrics on the test split (extra fields)."""

    description: str
    params: int | None
    macs: int | None
    file_bytes: int
    input_hw: list[int]
    teacher_val_accuracy: float
    baseline_val_accuracy: float | None = None
    teacher_better_than_baseline: bool | None = None


class StudentReport(WithMetrics):
    """The shipped student (PyTorch), and its task metrics on the test split (extra fields)."""

    arch: StudentArch
    params: int
    macs: int
    val_accuracy: float
    best_epoch: int
    history: History
    samples: SampleCounts
    teacher_outputs: str


class TeacherCheck(Contract):
    """The teacher on the validation split, against the student trained on the labels alone."""

    teacher_val_accuracy: float
    baseline_val_accuracy: float | None = None
    teacher_better_than_baseline: bool | None = None


class ChainLink(Contract):
    role: str
    teacher: str
    arch: StudentArch
    val_accuracy: float


class BaselineReport(Contract):
    what: str
    params: int
    macs: int
    labelled_samples: int
    val_accuracy: float
    test_accuracy: float
    best_epoch: int
    history: History


class ArtifactReport(WithMetrics):
    """A shipped file: its export description, its task metrics and agreement (extra fields), its timings."""

    file: str
    size_bytes: int
    gzip_bytes: int
    sha256: str
    io_dtype: str | None = None
    calibration: OnnxCalibration | None = None
    method: str | None = None
    ptq: PTQChoice | None = None
    int8_gate: str | None = None
    estimate_ms: float | None = None
    host_latency_ms: LatencySummary | None = None
    host_peak_rss_kb: int | None = None
    host_benchmark: RunnerResult | None = None
    device_latency_ms: LatencySummary | None = None
    device_peak_rss_kb: int | None = None
    device_benchmark: RunnerResult | None = None


class Checks(Contract):
    """The headline numbers a reviewer asks for first."""

    student_retention_of_teacher: float | None
    distillation_gain_points: float | None = None
    int8_gate: str | None = None
    int8_accuracy_drop_vs_fp32_points: float | None = None
    int8_accuracy_drop_vs_student_points: float | None = None
    teacher_fp32_bytes_over_int8_bytes: float | None = None


class HostInfo(Contract):
    threads: int
    machine: str


class DeviceInfo(Contract):
    device: str
    target: str
    threads: int
    runtime: str


class StageTiming(Contract):
    name: str
    key: str
    cached: bool
    seconds: float
    built_seconds: float | None = None


class Recommendation(Contract):
    model: str
    because: str


class LatencyEstimate(Contract):
    calibration: str | None = None
    device: str | None = None
    machine: str | None = None
    threads: int | None = None
    skipped: str | None = None


class BudgetCandidate(BaseModel):
    """A student `build --budget` costed; the search fills in the rest as it goes (so not frozen)."""

    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, json_schema_serialization_defaults_required=True
    )

    name: str
    width: float
    input_size: int
    prune_ratio: float
    params: int
    latency_ms: float
    size_bytes: int
    ram_bytes: int
    latency_source: str  # "estimate" (the calibration) or "device" (measured)
    over: dict[str, float] = Field(default_factory=dict)  # limit -> how far past it (ratio - 1)
    val_accuracy: float | None = None
    proxy_epochs: int | None = None
    not_trained: str = ""  # why a candidate within budget was not distilled
    chosen: bool = False

    @model_validator(mode="before")
    @classmethod
    def _derived_fields_are_not_input(cls, data: Any) -> Any:
        return {k: v for k, v in data.items() if k != "fits"} if isinstance(data, dict) else data

    @computed_field  # type: ignore[prop-decorator]
    @property
    def fits(self) -> bool:
        return not self.over


class BudgetSearch(Contract):
    """How `build --budget` chose the student: every candidate, costed, and the one chosen."""

    budget: dict[str, float]
    costed_by: str
    latency_margin: float  # the share an estimate is raised by before it is held against the latency budget
    latency_margin_source: str = ""  # where that margin comes from (the calibration's held-out error)
    candidates: list[BudgetCandidate]
    chosen: str


class Report(Contract):
    """report.json: every number of the build. The console summary and report.html are rendered from it;
    the manifest shares its recommendation and its artifacts' export descriptions."""

    schema_version: Literal[2] = REPORT_SCHEMA_VERSION
    task: str
    project: str
    target: DeviceProfile
    config_hash: str
    config: dict[str, Any]
    versions: dict[str, str]
    data: DataSummary
    teacher: TeacherReport
    student: StudentReport
    distillation_chain: list[ChainLink]
    pruning: PruningSummary | None
    baseline: BaselineReport | None
    artifacts: dict[str, ArtifactReport]
    checks: Checks
    quantization: Int8Choice | None
    int8_drop: Int8Drop | None
    int8_layer_errors: LayerErrors | None
    warnings: list[str]
    host_benchmark: HostInfo | None
    device: DeviceInfo | None = Field(description="the device the TFLite models were measured on; null: none")
    test_samples: int
    stages: list[StageTiming]
    recommended: Recommendation
    budget: BudgetSearch | None = None
    cohort: list[CohortMember] = Field(
        default_factory=list,
        description="distillation.mode mutual: every student of the cohort, measured (the shipped one is `student`)",
    )
    synthesized: SynthesizedData | None = Field(
        None, description="data.synthetic: the images the student was trained on, made from the teacher; else null"
    )
    latency_estimate: LatencyEstimate
    total_seconds: float


# ---- manifest.json ---------------------------------------------------------------------------------------------


class ModelTensor(Contract):
    name: str
    shape: list[int]
    dtype: str
    scale: float
    zero_point: int
    quantize: str | None = None
    dequantize: str | None = None
    meaning: str | None = None


class ShippedModel(Contract):
    file: str
    layout: Literal["NCHW", "NHWC"]
    input: ModelTensor
    output: ModelTensor


class Resize(Contract):
    height: int
    width: int
    method: str


class Preprocessing(Contract):
    resize: Resize
    channels: int
    color: Literal["grayscale", "rgb"]
    scale: float
    mean: list[float]
    std: list[float]
    formula: str
    steps: list[str]


class ShippedFile(Contract):
    sha256: str
    size_bytes: int


class Manifest(Contract):
    """manifest.json: everything an app team needs to call the shipped model, and nothing else."""

    schema_version: Literal[2] = MANIFEST_SCHEMA_VERSION
    task: str
    project: str
    target: DeviceProfile
    recommended_model: str
    recommended_because: str
    labels: list[str]
    preprocessing: Preprocessing
    models: dict[str, ShippedModel]
    files: dict[str, ShippedFile]
