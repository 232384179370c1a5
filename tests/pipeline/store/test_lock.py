from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from edgedistill.pipeline.store.lock import LockedError, build_lock
from tests.conftest import run_cli

HOLD = "import sys, time; from edgedistill.pipeline.store.lock import build_lock\nwith build_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(120)"


def _holder(cache) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(cache)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_holder_is_refused_naming_the_first(tmp_path):
    with build_lock(tmp_path):
        with pytest.raises(
            LockedError, match=rf"{tmp_path}: another build is running on this cache \(pid {os.getpid()}\)"
        ):
            with build_lock(tmp_path):
                pass
    with build_lock(tmp_path):  # released on exit
        pass


def test_a_holder_killed_with_sigkill_leaves_no_lock(tmp_path):
    holder = _holder(tmp_path)
    with pytest.raises(LockedError, match=f"pid {holder.pid}"):
        with build_lock(tmp_path):
            pass
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    with build_lock(tmp_path):
        pass


def test_two_builds_on_one_folder_the_second_is_refused_in_one_line(project_copy):
    holder = _holder(project_copy / ".edgedistill-cache")
    try:
        proc = run_cli("build", "--target", "rpi4", "--quiet", cwd=project_copy)
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "another build is running on this cache" in lines[0] and "Traceback" not in proc.stderr
    assert run_cli("build", "--target", "rpi4", "--quiet", cwd=project_copy).returncode == 0
