"""Turn a --device string into a transport: 'local', 'adb:SERIAL', or an SSH destination."""

from __future__ import annotations

from pathlib import Path

from edgedistill.devices.adb import AdbTransport
from edgedistill.devices.ssh import SSHTransport
from edgedistill.devices.transport import LocalTransport, Transport
from edgedistill.errors import EdgeDistillError


def open_transport(
    spec: str, *, ssh_config: Path | None = None, adb: str = "adb", python: str | None = None
) -> Transport:
    """python: the interpreter to run the runner with on the device (default: python3; locally, this one)."""
    spec = spec.strip()
    if spec == "local":
        return LocalTransport()
    if spec.startswith("adb:"):
        serial = spec[4:]
        if not serial:
            raise EdgeDistillError("--device adb:SERIAL needs a serial (see `adb devices`)")
        return AdbTransport(serial, adb=adb, python=python or "python3")
    destination = spec.removeprefix("ssh:")
    if (
        not destination or destination.startswith("-") or any(c.isspace() for c in destination)
    ):  # '-o...' would be an ssh option
        raise EdgeDistillError(
            f"--device {spec!r}: expected 'local', 'adb:SERIAL' or an SSH destination like pi@raspberrypi.local"
        )
    return SSHTransport(destination, ssh_config=ssh_config, python=python or "python3")
