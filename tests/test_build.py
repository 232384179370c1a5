"""End to end: `edgedistill build` on the tiny digits project, its cache, and its shipped files."""

from __future__ import annotations

import json

import numpy as np
import yaml

from edgedistill.pipeline.fsutil import sha256_file
from tests.conftest import run_cli

SHIPPED = {"model.onnx", "model_fp32.tflite", "model_int8.tflite", "student.pt", "manifest.json", "report.json"}


def test_build_ships_every_artifact_with_hashes(built_project):
    assert {p.name for p in built_project.out.iterdir()} == SHIPPED
    for name, info in built_project.manifest["files"].items():
        path = built_project.out / name
        assert info["sha256"] == sha256_file(path)
        assert info["size_bytes"] == path.stat().st_size


def test_report_holds_every_number(built_project):
    r = built_project.report
    assert set(r["artifacts"]) == {"onnx", "tflite_fp32", "tflite_int8"}
    for a in r["artifacts"].values():
        assert 0 <= a["accuracy"] <= 100 and 0 <= a["agreement_with_student"] <= 100
        lat = a["host_latency_ms"]
        assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"]
        assert a["host_peak_rss_kb"] > 0
        assert 0 < a["gzip_bytes"] < a["size_bytes"]
    assert r["artifacts"]["tflite_int8"]["int8_gate"].startswith("passed")
    assert r["device"] == "not measured on a device"
    assert r["teacher"]["accuracy"] > 90 and r["student"]["accuracy"] > 85  # tiny models, few epochs; chance is 10%
    assert len(r["config_hash"]) == 64 and r["versions"]["torch"].startswith("2.")
    # the fp32 exports compute what the PyTorch student computes
    for fmt in ("onnx", "tflite_fp32"):
        assert r["artifacts"][fmt]["agreement_with_student"] == 100.0
        assert r["artifacts"][fmt]["max_abs_logit_diff"] < 1e-3
    assert r["artifacts"]["tflite_int8"]["agreement_with_student"] >= 90.0
    assert [s["name"] for s in r["stages"]] == ["load", "baseline", "distill", "export", "verify", "benchmark"]
    # the teacher was checked against the student trained on labels alone, and the gain is reported
    assert r["teacher"]["teacher_better_than_baseline"] and r["teacher"]["teacher_val_accuracy"] > r["baseline"]["val_accuracy"]
    assert r["checks"]["distillation_gain_points"] == round(r["student"]["accuracy"] - r["baseline"]["test_accuracy"], 3)
    assert r["warnings"] == [] and r["data"]["transfer_unlabeled"] == 0
    assert [link["role"] for link in r["distillation_chain"]] == ["student"]


def test_app_reading_only_the_manifest_gets_the_reported_accuracy(built_project, digits_npz):
    """Raw uint8 test images + manifest.json -> int8 model -> the accuracy report.json states."""
    from ai_edge_litert.interpreter import Interpreter

    from edgedistill.pipeline.config import DataConfig
    from edgedistill.pipeline.data import load_data

    test = load_data(DataConfig(npz=digits_npz)).test  # the raw images the app would receive
    m = built_project.manifest
    model = m["models"][m["recommended_model"]]
    pre, inp, out = m["preprocessing"], model["input"], model["output"]
    assert model["layout"] == "NHWC" and inp["dtype"] == "int8" and out["dtype"] == "int8"
    interp = Interpreter(model_path=str(built_project.out / model["file"]))
    interp.allocate_tensors()
    in_index = interp.get_input_details()[0]["index"]
    out_index = interp.get_output_details()[0]["index"]
    correct = 0
    for img, label in zip(test.x, test.y):
        x = (img.astype(np.float32) * pre["scale"] - np.array(pre["mean"], np.float32)) / np.array(pre["std"], np.float32)
        q = np.clip(np.round(x / inp["scale"]) + inp["zero_point"], -128, 127).astype(np.int8)
        interp.set_tensor(in_index, q.reshape(inp["shape"]))
        interp.invoke()
        logits = (interp.get_tensor(out_index).astype(np.float32) - out["zero_point"]) * out["scale"]
        correct += int(np.argmax(logits) == label)
    accuracy = 100.0 * correct / len(test.y)
    assert abs(accuracy - built_project.report["artifacts"]["tflite_int8"]["accuracy"]) < 0.2
    assert m["labels"] == [str(i) for i in range(10)]


def test_second_build_reuses_every_stage(project_copy, built_project):
    proc = run_cli("build", "--target", "rpi4", cwd=project_copy)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((project_copy / "build" / "rpi4" / "report.json").read_text())
    assert all(s["cached"] for s in report["stages"] if s["name"] != "load")
    # same inputs, same artifacts
    for name in ("model_int8.tflite", "student.pt"):
        assert sha256_file(project_copy / "build" / "rpi4" / name) == sha256_file(built_project.out / name)


def test_changed_setting_reruns_only_what_depends_on_it(project_copy):
    cfg_path = project_copy / "edgedistill.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["benchmark"]["runs"] = 7
    cfg_path.write_text(yaml.safe_dump(cfg))
    proc = run_cli("build", "--target", "rpi4", "--json", "--quiet", cwd=project_copy)
    assert proc.returncode == 0, proc.stderr[-2000:]
    cached = {s["name"]: s["cached"] for s in json.loads(proc.stdout)["stages"]}
    assert cached == {"load": False, "baseline": True, "distill": True, "export": True, "verify": True, "benchmark": False}
    report = json.loads((project_copy / "build" / "rpi4" / "report.json").read_text())
    assert report["artifacts"]["tflite_int8"]["host_benchmark"]["runs"] == 7
