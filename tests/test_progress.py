"""Progress bars: drawn on a terminal (a real pseudo-terminal here), silent under --quiet or when not a terminal."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import threading

import yaml
from rich.console import Console

from edgedistill.progress import Progress
from tests.conftest import EDGEDISTILL


def run_in_terminal(*args: str, cwd, timeout: float = 600) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as stdout and stderr; returns (exit code, all it drew)."""
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "140", "EDGEDISTILL_HOME": str(cwd / ".home")}
    proc = subprocess.Popen(
        [*EDGEDISTILL, *args], cwd=cwd, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    chunks: list[bytes] = []

    def drain() -> None:  # a pty holds only a few KiB: read as it is written
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every writer has closed the terminal
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    code = proc.wait(timeout=timeout)
    reader.join(timeout=30)
    os.close(master)
    return code, b"".join(chunks).decode(errors="replace")


def test_a_task_draws_only_on_a_terminal():
    def drawn(console: Console, enabled=None) -> str:
        with Progress(console, enabled).task("calibrating", total=3) as advance:
            for _ in range(3):
                advance()
        return console.file.getvalue()

    assert "calibrating" in drawn(Console(file=io.StringIO(), force_terminal=True))
    assert drawn(Console(file=io.StringIO())) == ""  # a pipe or a log file
    assert drawn(Console(file=io.StringIO(), force_terminal=True), enabled=False) == ""  # --quiet


def rerun_export(folder, samples: int) -> None:
    """Change the calibration so that export, verify and benchmark run again (the student stays cached)."""
    path = folder / "edgedistill.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["quantization"]["calibration_samples"] = samples
    cfg["export"] = {"formats": ["onnx", "onnx_int8", "tflite_int8"]}
    path.write_text(yaml.safe_dump(cfg))


def test_build_shows_calibration_conversion_and_benchmark_progress_on_a_terminal(project_copy, built_project):
    rerun_export(project_copy, 40)
    code, drawn = run_in_terminal("build", cwd=project_copy)
    assert code == 0, drawn[-3000:]
    for shown in (
        "calibrating model_int8.tflite",
        "exporting model.onnx",
        "calibration",
        "benchmarking on the host",
        "shipped:",
    ):
        assert shown in drawn, shown
    assert "calibrating" not in built_project.first_run.stderr  # the same build through pipes drew no bars

    rerun_export(project_copy, 48)
    code, drawn = run_in_terminal("build", "--quiet", cwd=project_copy)
    assert code == 0, drawn[-3000:]
    assert "calibrating" not in drawn and "exporting" not in drawn and "benchmarking" not in drawn
    assert drawn.strip().startswith("shipped:") or drawn.strip() == "", drawn[-2000:]


def test_bench_shows_a_spinner_on_a_terminal_only(built_project, tmp_path):
    model = str(built_project.out / "model_int8.tflite")
    code, drawn = run_in_terminal("bench", model, "--runs", "20", "--threads", "1", cwd=tmp_path)
    assert code == 0, drawn[-3000:]
    assert "measuring model_int8.tflite on local" in drawn
    code, drawn = run_in_terminal("bench", model, "--runs", "20", "--threads", "1", "--quiet", cwd=tmp_path)
    assert code == 0 and "measuring" not in drawn


def test_a_table_written_to_a_file_keeps_its_rows_whole():
    from rich.table import Table

    from edgedistill.progress import LOG_WIDTH, table_console

    out = io.StringIO()
    console = table_console(out)
    assert console.width == LOG_WIDTH
    table = Table()
    for i in range(12):
        table.add_column(f"column {i}")
    table.add_row(*(f"value {i}" for i in range(12)))
    console.print(table)
    row = next(line for line in out.getvalue().splitlines() if "value 0" in line)
    assert "value 11" in row  # one line: not wrapped at the 80 columns rich assumes off a terminal


def test_stderr_console_keeps_drawing_on_its_own_stderr_while_fd_2_is_redirected(tmp_path, monkeypatch):
    """The build sends native logs on fd 2 to a file: the console made before that still reaches the old stderr."""
    import sys

    from edgedistill.progress import LOG_WIDTH, stderr_console

    monkeypatch.setattr(sys, "stderr", os.fdopen(2, "w", closefd=False))  # as outside pytest's capture
    read_end, write_end = os.pipe()
    saved = os.dup(2)
    os.dup2(write_end, 2)  # stderr is the pipe while the consoles are made
    try:
        console, quiet = stderr_console(False), stderr_console(True)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    os.close(write_end)
    with (tmp_path / "native.log").open("w") as log:
        saved = os.dup(2)
        os.dup2(log.fileno(), 2)  # then fd 2 goes to a log, as under export.native_logs.stderr_to
        try:
            console.print("drawn")
            quiet.print("hidden")
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    console.file.close()
    quiet.file.close()
    with os.fdopen(read_end) as pipe:
        assert pipe.read() == "drawn\n"
    assert console.width == LOG_WIDTH and (tmp_path / "native.log").read_text() == ""
