"""data.synthetic: a data-free build on the test suite's digits, its teacher inverted into training and
validation images; the source is read for its test split."""

from __future__ import annotations

import base64
import json

import numpy as np
import torch
from PIL import Image

from edgedistill.pipeline.stages.synthesize import to_source_pixels
from tests.conftest import run_cli, tiny_config, write_config

# 8x8 digits: the lighter BatchNorm and smoothness terms measured in tests/pipeline/distill/test_synthesis.py
SYNTHETIC = {"images_per_class": 30, "steps": 60, "batch_size": 150, "bn_weight": 0.3, "tv_weight": 0.1, "jitter": 1}
# the digits' training-split statistics, which the test teacher was trained with: a data-free build is told them
NORMALIZE = {"mean": [0.30655], "std": [0.3771]}


def test_a_data_free_build_trains_on_synthesized_images_and_is_measured_on_the_real_test_split(
    tmp_path, digits_npz, digits_teacher
):
    cfg = tiny_config(
        digits_npz,
        digits_teacher,
        **{
            "data.synthetic": SYNTHETIC,
            "data.normalize": NORMALIZE,
            "export.formats": ["tflite_int8"],
            "distillation.baseline": False,
            "distillation.epochs": 40,
        },
    )
    write_config(tmp_path, cfg)
    proc = run_cli("build", "--target", "rpi4", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "build" / "rpi4" / "report.json").read_text())
    data = report["data"]
    assert data["train"] + data["val"] == 300 and data["val"] == 30  # 10% of each class held out
    assert data["test"] == 359  # the digits' own test split (20% of 1,797), never trained on
    assert "synthesized from the teacher" in data["source"]
    stages = {s["name"]: s for s in report["stages"]}
    assert list(stages)[:2] == ["load", "synthesize"]
    # a student that never saw a real digit reads them (chance: 10%; measured 65.5%, and 40.4% after 12 epochs
    # instead of 40), and so does its int8 model, calibrated on the synthesized images (measured 65.5%)
    assert report["student"]["accuracy"] >= 50, report["student"]["accuracy"]
    assert report["artifacts"]["tflite_int8"]["accuracy"] >= report["student"]["accuracy"] - 5
    made = report["synthesized"]
    assert made["images"] == 300 and made["per_class"] == 30 and made["teacher_agreement"] > 50
    out = tmp_path / "build" / "rpi4"
    grid = Image.open(out / "synthesized.png")  # what the student learnt from: a row per class, 8 images each
    assert grid.size == (8 * (48 + 2) + 2, 10 * (48 + 2) + 2)
    manifest = json.loads((out / "manifest.json").read_text())
    assert "synthesized.png" in manifest["files"]
    page = (out / "report.html").read_text()
    inlined = base64.b64encode((out / "synthesized.png").read_bytes()).decode()
    assert "Synthesized training images" in page and f"data:image/png;base64,{inlined}" in page
    (out / "report.html").unlink()
    assert run_cli("report", str(out), cwd=tmp_path).returncode == 0  # rendered again from the folder: still there
    assert f"data:image/png;base64,{inlined}" in (out / "report.html").read_text()
    entries = [p for p in (tmp_path / ".edgedistill-cache" / "synthesize").iterdir() if not p.name.startswith(".")]
    assert len(entries) == 1
    again = run_cli("build", "--target", "rpi4", "--quiet", "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    second = json.loads(again.stdout)["stages"][1]
    assert second["name"] == "synthesize" and second["cached"] is True

    # two processes (torchrun, gloo) make the two batches in parallel, one each: the same images (the rest of
    # the build kept short: its images are what is compared). Measured on every digit (test: source) this time.
    short = {"distillation": {**cfg["distillation"], "epochs": 2}, "export": {"formats": ["onnx"]}}
    whole = {**cfg["data"], "synthetic": {**SYNTHETIC, "test": "source"}}
    write_config(tmp_path / "ddp", {**cfg, **short, "data": whole})
    ddp = run_cli("build", "--target", "rpi4", "--nproc", "2", "--quiet", cwd=tmp_path / "ddp")
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    measured = json.loads((tmp_path / "ddp" / "build" / "rpi4" / "report.json").read_text())["data"]
    assert measured["test"] == 1797 and measured["train"] + measured["val"] == 300
    [one], [two] = (
        list((folder / ".edgedistill-cache").glob("synthesize/[!.]*/synthetic.npz"))
        for folder in (tmp_path, tmp_path / "ddp")
    )
    with np.load(one) as a, np.load(two) as b:
        assert np.array_equal(a["y"], b["y"])
        diff = np.abs(a["x"].astype(int) - b["x"].astype(int))
        assert diff.max() <= 1, diff.max()


def test_synthetic_data_refuses_a_transfer_set_a_budget_search_and_unknown_statistics_in_one_line(
    tmp_path, digits_npz, digits_teacher
):
    cfg = tiny_config(digits_npz, digits_teacher, **{"data.synthetic": SYNTHETIC, "data.labeled_fraction": 0.5})
    write_config(tmp_path / "a", cfg)
    proc = run_cli("build", "--target", "rpi4", cwd=tmp_path / "a")
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1
    assert "data: 'synthetic' trains on synthesized images alone" in proc.stderr
    synthetic = {"data.synthetic": SYNTHETIC, "data.normalize": NORMALIZE}
    write_config(tmp_path / "b", tiny_config(digits_npz, digits_teacher, **synthetic))
    proc = run_cli("build", "--target", "rpi4", "--budget", "size=1MB", cwd=tmp_path / "b")
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1
    assert "--budget with data.synthetic" in proc.stderr
    assert not (tmp_path / "b" / ".edgedistill-cache").exists()
    write_config(tmp_path / "c", tiny_config(digits_npz, digits_teacher, **{"data.synthetic": SYNTHETIC}))
    proc = run_cli("build", "--target", "rpi4", cwd=tmp_path / "c")  # no real training image to measure
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1
    assert "data: 'synthetic' needs 'normalize'" in proc.stderr


def test_synthesized_pixels_are_kept_as_the_source_keeps_its_own():
    unit = torch.tensor([0.0, 0.2, 0.5004, 1.0]).view(1, 1, 2, 2)
    as_bytes = to_source_pixels(unit, 255.0)
    assert as_bytes.dtype == np.uint8 and as_bytes.shape == (1, 2, 2, 1)
    assert as_bytes.ravel().tolist() == [0, 51, 128, 255]
    as_floats = to_source_pixels(unit, 1.0)  # a float source: not rounded to 0 or 1
    assert as_floats.dtype == np.float32 and np.allclose(as_floats.ravel(), [0.0, 0.2, 0.5004, 1.0])
