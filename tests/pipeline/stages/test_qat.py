"""qat: distillation into the fake-quantized student, and the choice between the PTQ and the QAT int8 model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgedistill.contracts import QATVerdict
from edgedistill.export.inspect_tflite import float_ops
from edgedistill.export.qat import QATStudent, export_qat_tflite
from edgedistill.export.runtimes import TFLiteModel
from edgedistill.pipeline.config import ExportConfig, QuantizationConfig
from edgedistill.pipeline.data.transforms import preprocess
from edgedistill.pipeline.stages import run_stage
from edgedistill.pipeline.stages.export import ExportStage
from edgedistill.pipeline.stages.qat import Int8ChoiceStage, QATStage, ptq_verdict
from edgedistill.pipeline.student import load_student
from edgedistill.progress import quiet
from tests.pipeline.stages.conftest import RECIPE

QAT = QuantizationConfig(mode="qat", qat_epochs=2, calibration_samples=64)


@pytest.fixture(scope="module")
def quantized(distilled):
    data, teacher, cache, student = distilled
    exported = run_stage(ExportStage(student, data, ExportConfig(formats=["tflite_int8"]), QAT, quiet()), cache)
    qat = run_stage(QATStage(student, data, teacher, RECIPE, QAT, quiet()), cache)
    return exported, qat


def test_export_measures_ptq_against_fp32_on_validation_and_the_verdict_follows_the_mode(quantized):
    exported, _ = quantized
    val = exported.result.artifacts["tflite_int8"].val
    assert val is not None and 80 < val.accuracy <= 100 and 80 < val.fp32_accuracy <= 100
    drop = val.fp32_accuracy - val.accuracy
    ptq, qat = (
        ptq_verdict(exported, QuantizationConfig(mode="ptq")),
        ptq_verdict(exported, QuantizationConfig(mode="qat")),
    )
    assert ptq is not None and ptq.run_qat is False and qat is not None and qat.run_qat is True
    within = ptq_verdict(exported, QuantizationConfig(mode="auto", tolerance_points=max(drop, 0) + 0.5))
    past = ptq_verdict(exported, QuantizationConfig(mode="auto", tolerance_points=max(drop - 0.5, 0)))
    assert within is not None and within.run_qat is False and "within" in within.why
    assert past is not None and past.run_qat is (drop > 0) and (drop <= 0 or "below fp32 on validation" in past.why)


def test_qat_distils_into_the_fake_quantized_student_and_ships_a_fully_integer_model(distilled, quantized):
    data, *_ = distilled
    _, qat = quantized
    assert float_ops(qat.path("tflite_int8")) == []
    assert qat.result.val_accuracy > 85 and len(qat.result.history) == 2
    assert qat.result.observers_fixed_from_epoch == 2  # the last epoch trains with fixed ranges
    assert qat.result.lr == pytest.approx(RECIPE.lr / 10)


def test_mode_qat_ships_the_qat_model_and_says_so(distilled, quantized):
    *_, cache, _ = distilled
    exported, qat = quantized
    verdict = ptq_verdict(exported, QAT)
    assert verdict is not None and verdict.run_qat
    chosen = run_stage(Int8ChoiceStage(exported, qat, verdict), cache)
    assert chosen.path("tflite_int8").read_bytes() == qat.path("tflite_int8").read_bytes()
    assert chosen.result.artifacts["tflite_int8"].method == "qat"
    choice = chosen.result.int8_choice
    assert (
        choice is not None
        and choice.shipped == "qat"
        and choice.qat is not None
        and choice.qat.val_accuracy == qat.result.val_accuracy
    )


def test_auto_keeps_ptq_when_qat_does_not_beat_it_on_validation(distilled, quantized):
    *_, cache, _ = distilled
    exported, qat = quantized
    verdict = QATVerdict(mode="auto", run_qat=True, ptq_val_accuracy=100.0, fp32_val_accuracy=100.0, why="forced")
    chosen = run_stage(Int8ChoiceStage(exported, qat, verdict), cache)
    assert chosen.path("tflite_int8").read_bytes() == exported.path("tflite_int8").read_bytes()
    assert (
        chosen.result.int8_choice is not None
        and chosen.result.int8_choice.shipped == "ptq"
        and "does not beat" in chosen.result.int8_choice.shipped_because
    )
    assert chosen.result.artifacts["tflite_int8"] == exported.result.artifacts["tflite_int8"]


def test_the_shipped_qat_state_re_exports_the_same_model_from_the_fp32_student(distilled, quantized, tmp_path):
    data, _, _, student = distilled
    _, qat = quantized
    again = QATStudent(load_student(student), (1, 8, 8))
    again.load_state_dict(torch.load(qat.path("state"), weights_only=True))
    export_qat_tflite(again, tmp_path / "again.tflite")
    from edgedistill.export.io_types import set_io_dtype

    set_io_dtype(tmp_path / "again.tflite", tmp_path / "again.tflite", QAT.io_dtype)
    x = preprocess(data.test.x[:64], data)
    shipped, rebuilt = (
        TFLiteModel(qat.path("tflite_int8")).predict(x),
        TFLiteModel(tmp_path / "again.tflite").predict(x),
    )
    assert np.array_equal(shipped, rebuilt)


def test_qat_learns_the_fp32_students_own_soft_targets_or_the_teachers(distilled, quantized):
    data, teacher, cache, student = distilled
    _, own = quantized  # the default: qat_teacher student
    stage = QATStage(student, data, teacher, RECIPE, QAT, quiet())
    soft = stage.qat_teacher()
    assert QAT.qat_teacher == "student" and soft.fingerprint == student.fingerprint() != teacher.fingerprint
    x = torch.from_numpy(data.val.x[:32]).permute(0, 3, 1, 2).float() / data.pixel_max
    reference = load_student(student)(soft.view(x))
    assert torch.allclose(soft.logits(data.val.rows[:32], x), reference.detach(), atol=1e-5)
    via_teacher = QATStage(student, data, teacher, RECIPE, QAT.model_copy(update={"qat_teacher": "teacher"}), quiet())
    assert via_teacher.qat_teacher() is teacher
    other = run_stage(via_teacher, cache)
    assert other.fingerprint() != own.fingerprint()  # its own cache entry
    assert own.result.teacher == "student" and other.result.teacher == "teacher"
    assert float_ops(other.path("tflite_int8")) == [] and other.result.val_accuracy > 85
