"""SSH transport through the system OpenSSH client: ~/.ssh/config, the agent, jump hosts and
known_hosts work as they do in a terminal. Host-key checking is never turned off, and every
remote argument is quoted."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from edgedistill.devices.transport import CommandResult, Transport
from edgedistill.errors import EdgeDistillError

SSH_ERRORS = (  # stderr fragment -> the cause a user can act on
    ("Host key verification failed", "host key verification failed (check known_hosts)"),
    ("REMOTE HOST IDENTIFICATION HAS CHANGED", "the host key changed (check known_hosts)"),
    ("Permission denied", "authentication failed (permission denied)"),
    ("Connection refused", "connection refused (is sshd running?)"),
    ("Connection timed out", "unreachable (connection timed out)"),
    ("No route to host", "unreachable (no route to host)"),
    ("Could not resolve hostname", "unknown host name"),
    ("Network is unreachable", "unreachable (network is unreachable)"),
    ("Connection closed", "the connection was closed by the device"),
    ("Connection reset", "the connection was reset by the device"),
)


class SSHTransport(Transport):
    def __init__(
        self, destination: str, *, ssh_config: Path | None = None, connect_timeout: int = 15, python: str = "python3"
    ) -> None:
        self.destination = destination
        self.python = python
        self.base = [
            "ssh",
            "-o",
            "BatchMode=yes",
            "-o",
            f"ConnectTimeout={connect_timeout}",
            "-o",
            "ServerAliveInterval=5",
            "-o",
            "ServerAliveCountMax=3",
        ]
        if ssh_config is not None:
            self.base += ["-F", str(ssh_config)]
        self.workdir: str | None = None

    def _ssh(
        self, remote_argv: list[str], timeout: float, stdin=None, stdout=subprocess.PIPE
    ) -> subprocess.CompletedProcess:
        cmd = [*self.base, self.destination, "--", shlex.join(remote_argv)]
        try:
            return subprocess.run(
                cmd,
                stdin=stdin if stdin is not None else subprocess.DEVNULL,
                stdout=stdout,
                stderr=subprocess.PIPE,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise EdgeDistillError(
                f"{self.destination}: timed out after {timeout:.0f} s running {remote_argv[0]}"
            ) from None
        except FileNotFoundError:
            raise EdgeDistillError("ssh: the OpenSSH client is not installed") from None

    def _check(self, proc: subprocess.CompletedProcess, what: str) -> None:
        if proc.returncode == 255:  # ssh's own failure, not the remote command's
            stderr = proc.stderr.decode(errors="replace")
            cause = next(
                (msg for frag, msg in SSH_ERRORS if frag in stderr), (stderr.strip().splitlines() or ["ssh failed"])[-1]
            )
            raise EdgeDistillError(f"{self.destination}: {cause}")
        if proc.returncode != 0:
            last = (proc.stderr.decode(errors="replace").strip().splitlines() or ["no message"])[-1]
            raise EdgeDistillError(f"{self.destination}: {what} failed (exit {proc.returncode}): {last}")

    def _remote_dir(self) -> str:
        if self.workdir is None:
            proc = self._ssh(["mktemp", "-d", "/tmp/edgedistill.XXXXXX"], timeout=60)
            self._check(proc, "creating a work folder")
            self.workdir = proc.stdout.decode().strip()
        return self.workdir

    def push(self, local: Path, remote_name: str) -> str:
        remote = f"{self._remote_dir()}/{remote_name}"
        with open(local, "rb") as fh:
            proc = self._ssh(["sh", "-c", 'cat > "$1"', "sh", remote], timeout=300, stdin=fh)
        self._check(proc, f"copying {Path(local).name}")
        return remote

    def run(self, argv: list[str], timeout: float) -> CommandResult:
        proc = self._ssh(argv, timeout=timeout)
        if proc.returncode == 255:
            self._check(proc, argv[0])
        return CommandResult(
            proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
        )

    def pull(self, remote: str, local: Path) -> None:
        with open(local, "wb") as fh:
            proc = self._ssh(["cat", remote], timeout=300, stdout=fh)
        self._check(proc, f"copying {remote} back")

    def close(self) -> None:
        if self.workdir is not None:
            try:
                self._ssh(["rm", "-rf", self.workdir], timeout=30)
            except EdgeDistillError:
                pass  # the device went away; nothing more to clean from here
            self.workdir = None
