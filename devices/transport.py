"""The one small interface every way of reaching a device implements (local here; SSH and adb later)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from edgedistill.errors import EdgeDistillError


@dataclass(frozen=True)
class CommandResult:
    exit_code: int
    stdout: str
    stderr: str


class Transport(ABC):
    """Push files to a device, run a command there (argv, never a shell string), pull files back."""

    python: str = "python3"

    @abstractmethod
    def push(self, local: Path, remote_name: str) -> str:
        """Copy a local file into the transport's work folder; return its path on the device."""

    def push_once(self, local: Path, remote_name: str) -> str:
        """push(), but a file already pushed under that name in this session is reused (the runner, a binary)."""
        pushed = self.__dict__.setdefault("_pushed", {})
        key = (str(local), remote_name)
        if key not in pushed:
            pushed[key] = self.push(local, remote_name)
        return pushed[key]

    @abstractmethod
    def run(self, argv: list[str], timeout: float) -> CommandResult: ...

    @abstractmethod
    def pull(self, remote: str, local: Path) -> None: ...

    @abstractmethod
    def close(self) -> None:
        """Remove everything this transport put on the device."""

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LocalTransport(Transport):
    """This machine, with this interpreter: the host benchmark uses the device code path."""

    python = sys.executable

    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="edgedistill-local-"))

    def push(self, local: Path, remote_name: str) -> str:
        dest = self.workdir / remote_name
        shutil.copyfile(local, dest)
        return str(dest)

    def run(self, argv: list[str], timeout: float) -> CommandResult:
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=self.workdir)
        except subprocess.TimeoutExpired:
            raise EdgeDistillError(f"local: {Path(argv[0]).name} timed out after {timeout:.0f} s") from None
        return CommandResult(proc.returncode, proc.stdout, proc.stderr)

    def pull(self, remote: str, local: Path) -> None:
        shutil.copyfile(remote, local)

    def close(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)
