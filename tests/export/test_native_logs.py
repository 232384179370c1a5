"""Native log lines (written by C++ straight to file descriptor 2) go to a log file, never the terminal."""

from __future__ import annotations

import os
import subprocess
import sys

from edgedistill.export.native_logs import native_logs_to, stderr_to


def test_what_native_code_and_child_processes_write_to_fd2_lands_in_the_log(tmp_path, capfd):
    log = tmp_path / "logs" / "native.log"
    with stderr_to(log, header="edgedistill build --target rpi4") as used:
        os.write(2, b"I0000 port.cc:153] oneDNN custom operations are on\n")  # as a C++ library writes it
        subprocess.run(
            [sys.executable, "-c", "import os; os.write(2, b'WARNING: All log messages before absl\\n')"], check=True
        )
        print("a Python warning", file=sys.__stderr__, flush=True)  # sys.stderr itself is pytest's capture here
    os.write(2, b"after\n")
    assert used == log
    assert capfd.readouterr().err == "after\n"  # fd 2 is back where it was
    text = log.read_text()
    assert text.startswith("=== ") and "edgedistill build --target rpi4" in text.splitlines()[0]
    assert "oneDNN custom operations" in text and "absl" in text and "a Python warning" in text


def test_each_run_appends_and_nested_stage_logs_restore_the_command_log(tmp_path, capfd):
    log, stage_log = tmp_path / "native.log", tmp_path / "convert.log"
    for run in ("first", "second"):
        with stderr_to(log, header=run):
            os.write(2, b"command line\n")
            with native_logs_to(stage_log):
                os.write(2, b"stage line\n")
            os.write(2, b"command again\n")
    assert capfd.readouterr().err == ""
    assert [line for line in log.read_text().splitlines() if line.startswith("===")][1].endswith("second")
    assert log.read_text().count("command again") == 2 and "stage line" not in log.read_text()
    assert stage_log.read_text() == "stage line\nstage line\n"


def test_a_log_that_cannot_be_written_still_keeps_the_terminal_quiet(tmp_path, capfd):
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")
    with stderr_to(blocker / "logs" / "native.log", header="build") as used:
        os.write(2, b"native noise\n")
    assert used is None
    assert capfd.readouterr().err == ""
