"""adb transport through the platform-tools `adb` client, one device chosen by serial.

Remote commands go through `adb shell` (shell protocol v2, so exit codes come back) as one
quoted command line; files live in a fresh folder under /data/local/tmp, removed on close.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

from edgedistill.devices.transport import CommandResult, Transport
from edgedistill.errors import EdgeDistillError

ADB_ERRORS = (
    ("not found", "device not found (is it connected? see `adb devices`)"),
    ("offline", "device is offline"),
    ("unauthorized", "device is unauthorized (accept the debugging prompt on the phone)"),
    ("cannot connect", "cannot connect to the device"),
    ("Connection refused", "connection refused"),
    ("closed", "the connection to the device was closed"),
    ("no devices", "no device connected"),
)


class AdbTransport(Transport):
    def __init__(
        self, serial: str, *, adb: str = "adb", remote_root: str = "/data/local/tmp", python: str = "python3"
    ) -> None:
        self.serial = serial
        self.adb = [adb, "-s", serial]
        self.remote_root = remote_root
        self.python = python
        self.workdir: str | None = None

    def _adb(self, args: list[str], timeout: float) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(
                [*self.adb, *args],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                env=os.environ,
            )
        except subprocess.TimeoutExpired:
            raise EdgeDistillError(f"adb:{self.serial}: timed out after {timeout:.0f} s ({args[0]})") from None
        except FileNotFoundError:
            raise EdgeDistillError(f"adb: the adb client {self.adb[0]!r} is not installed") from None

    def _fail(self, proc: subprocess.CompletedProcess, what: str) -> EdgeDistillError:
        text = (proc.stderr + proc.stdout).strip()
        cause = next((msg for frag, msg in ADB_ERRORS if frag in text), (text.splitlines() or ["adb failed"])[-1])
        return EdgeDistillError(f"adb:{self.serial}: {what}: {cause}")

    def _remote_dir(self) -> str:
        if self.workdir is None:
            proc = self._adb(
                ["shell", shlex.join(["mktemp", "-d", f"{self.remote_root}/edgedistill.XXXXXX"])], timeout=60
            )
            if proc.returncode != 0 or not proc.stdout.strip():
                raise self._fail(proc, "creating a work folder")
            self.workdir = proc.stdout.strip().splitlines()[-1]
        return self.workdir

    def push(self, local: Path, remote_name: str) -> str:
        remote = f"{self._remote_dir()}/{remote_name}"
        proc = self._adb(["push", str(local), remote], timeout=300)
        if proc.returncode != 0:
            raise self._fail(proc, f"copying {Path(local).name}")
        return remote

    def run(self, argv: list[str], timeout: float) -> CommandResult:
        proc = self._adb(["shell", shlex.join(argv)], timeout=timeout)
        if proc.returncode != 0 and "error:" in proc.stderr and not proc.stdout:
            raise self._fail(proc, argv[0])
        return CommandResult(proc.returncode, proc.stdout, proc.stderr)

    def pull(self, remote: str, local: Path) -> None:
        proc = self._adb(["pull", remote, str(local)], timeout=300)
        if proc.returncode != 0:
            raise self._fail(proc, f"copying {remote} back")

    def close(self) -> None:
        if self.workdir is not None:
            try:
                self._adb(["shell", shlex.join(["rm", "-rf", self.workdir])], timeout=30)
            except EdgeDistillError:
                pass
            self.workdir = None
