"""An adb-reached test "phone": the test adbd serving the arm64 rootfs, and a private adb server.

The project's own adb code talks to it through the real `adb` client, unchanged: the tests only
point ANDROID_ADB_SERVER_PORT at the private server.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.devices.testbed.rootfs import PI_ENV, as_raspberry_pi

ADBD = Path(__file__).with_name("adbd.py")
STANDIN = Path(__file__).with_name("benchmark_model_standin.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AdbDevice:
    def __init__(self, workdir: Path, rootfs: Path) -> None:
        self.workdir, self.rootfs = workdir, rootfs
        workdir.mkdir(parents=True, exist_ok=True)
        (rootfs / "data" / "local" / "tmp").mkdir(parents=True, exist_ok=True)
        self.device_port, self.server_port = _free_port(), _free_port()
        self.serial = f"127.0.0.1:{self.device_port}"
        home = workdir / "home"
        (home / ".android").mkdir(parents=True, exist_ok=True)
        self.env = {"ANDROID_ADB_SERVER_PORT": str(self.server_port), "HOME": str(home)}
        self.adbd: subprocess.Popen | None = None
        self.server: subprocess.Popen | None = None
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def adb(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["adb", *args], env={**os.environ, **self.env}, capture_output=True, text=True, timeout=timeout
        )

    def _start(self) -> None:
        adbd = [sys.executable, str(ADBD), "--rootfs", str(self.rootfs), "--port", str(self.device_port)]
        log = open(self.workdir / "adbd.log", "ab")
        self.adbd = subprocess.Popen(
            as_raspberry_pi(self.rootfs, adbd), stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **PI_ENV}
        )
        self._wait_port(self.device_port, self.adbd)
        server_log = open(self.workdir / "adb-server.log", "ab")
        self.server = subprocess.Popen(
            ["adb", "-P", str(self.server_port), "nodaemon", "server"],
            env={**os.environ, **self.env},
            stdout=server_log,
            stderr=subprocess.STDOUT,
        )
        self._wait_port(self.server_port, self.server)
        connected = self.adb("connect", self.serial)
        if "connected" not in connected.stdout:
            raise RuntimeError(f"adb connect failed: {connected.stdout}{connected.stderr}")
        deadline = time.monotonic() + 30
        while self.adb("-s", self.serial, "get-state").stdout.strip() != "device":
            if time.monotonic() > deadline:
                raise RuntimeError("the test device never came online in adb")
            time.sleep(0.2)

    @staticmethod
    def _wait_port(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"nothing listens on {port}")

    def stop_adbd(self) -> None:
        """The phone goes away: its adbd dies mid-session."""
        if self.adbd is not None and self.adbd.poll() is None:
            self.adbd.kill()
            self.adbd.wait(timeout=30)

    def close(self) -> None:
        self.stop_adbd()
        if self.server is not None and self.server.poll() is None:
            self.server.kill()
            self.server.wait(timeout=30)
