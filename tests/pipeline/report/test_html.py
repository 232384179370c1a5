from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from edgedistill.pipeline.report.svg_plots import COLORS
from tests.conftest import run_cli


def test_build_ships_a_self_contained_report_page(built_project):
    page = (built_project.out / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"<script|<link|<img|@import|url\(", page)  # nothing fetched, nothing run
    assert set(re.findall(r"https?://[^\s\"'<>]+", page)) <= {"http://www.w3.org/2000/svg"}
    for a in built_project.report["artifacts"].values():
        assert a["file"] in page and f"{a['accuracy']:.2f}" in page
    assert built_project.manifest["files"]["model_int8.tflite"]["sha256"] in page
    figures = re.findall(r'<svg class="figure".*?</svg>', page, flags=re.S)
    assert len(figures) >= 4  # accuracy vs size, vs latency, vs MACs, host latency distribution
    # the size figure has one point per artifact plus the teacher, and a legend key for each
    assert figures[0].count("<circle") == 2 * (len(built_project.report["artifacts"]) + 1)
    assert "digits-test" in page and "calibration_samples: 64" in page  # the config used


def test_report_command_renders_the_same_page_again(project_copy, built_project):
    out = project_copy / "build" / "rpi4"
    (out / "report.html").unlink()
    proc = run_cli("report", str(out), cwd=project_copy)
    assert proc.returncode == 0, proc.stderr
    assert (out / "report.html").read_bytes() == (built_project.out / "report.html").read_bytes()


def test_report_command_on_a_folder_without_a_build_is_one_line(tmp_path):
    proc = run_cli("report", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"error: {tmp_path / 'report.json'}: not found (is {tmp_path} a build folder?)"
    (tmp_path / "report.json").write_text("{not json")
    (tmp_path / "manifest.json").write_text("{}")
    proc = run_cli("report", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 1 and "report.json: not valid JSON" in proc.stderr and "Traceback" not in proc.stderr
    (tmp_path / "report.json").write_text('{"schema": 1, "project": "made by edgedistill 0.1"}')
    proc = run_cli("report", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "not an edgedistill report of schema version 2 (found 1)" in proc.stderr and "build again" in proc.stderr


def _hex(color: str) -> np.ndarray:
    return np.array([int(color[i : i + 2], 16) for i in (1, 3, 5)])


@pytest.mark.skipif(
    shutil.which("chromium") is None,
    reason="headless Chromium is not installed (tests/devices/testbed/setup_host.sh installs it as root)",
)
def test_page_renders_in_headless_chromium_with_its_figures_and_no_console_errors(built_project, tmp_path):
    from PIL import Image

    shot = tmp_path / "page.png"
    proc = subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1200,2000",
            f"--screenshot={shot}",
            (built_project.out / "report.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    console = [
        line
        for line in proc.stderr.splitlines()
        if "CONSOLE" in line or "Uncaught" in line or "Failed to load resource" in line
    ]
    assert console == []
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
    # the figures' points were drawn: pixels in the first few series colours
    for color in COLORS[:4]:
        assert (np.abs(pixels - _hex(color)).sum(axis=1) <= 6).sum() > 50, color
