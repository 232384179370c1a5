"""A real SSH "device" for the tests: an OpenSSH sshd in its own network namespace.

Either the host's own x86 sshd (the fast tier) or the arm64 rootfs's sshd run under qemu-user
inside a chroot (the emulated Raspberry Pi). The client side is the system `ssh` with a config
file that keeps StrictHostKeyChecking on against a known_hosts written here. Needs root.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.devices.testbed.rootfs import PI_ENV, as_raspberry_pi

_counter = itertools.count(1)


def _sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


class NetNamespace:
    """A network namespace joined to the host by a veth pair: host 10.W.N.1, device 10.W.N.2, where W
    is 211 + the pytest-xdist worker's number, so parallel workers never share a subnet."""

    def __init__(self) -> None:
        worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
        n = next(_counter) % 250
        self.name = f"edtest{os.getpid()}x{n}"
        self.host_ip, self.device_ip = f"10.{211 + worker % 40}.{n}.1", f"10.{211 + worker % 40}.{n}.2"
        host_if, dev_if = f"edh{n}x{os.getpid() % 10000}", f"edd{n}x{os.getpid() % 10000}"
        _sh("ip", "netns", "add", self.name)
        _sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", dev_if)
        _sh("ip", "link", "set", dev_if, "netns", self.name)
        _sh("ip", "addr", "add", f"{self.host_ip}/24", "dev", host_if)
        _sh("ip", "link", "set", host_if, "up")
        _sh("ip", "netns", "exec", self.name, "ip", "addr", "add", f"{self.device_ip}/24", "dev", dev_if)
        _sh("ip", "netns", "exec", self.name, "ip", "link", "set", dev_if, "up")
        _sh("ip", "netns", "exec", self.name, "ip", "link", "set", "lo", "up")

    def close(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


class SshDevice:
    """sshd listening on <device_ip>:22 in a fresh namespace; `ssh_config` and `destination` reach it."""

    def __init__(self, workdir: Path, rootfs: Path | None = None) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.rootfs = rootfs
        self.netns = NetNamespace()
        self.proc: subprocess.Popen | None = None
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        keys = self.workdir / "keys"
        keys.mkdir(exist_ok=True)
        for name in ("host", "client"):
            if not (keys / name).exists():
                _sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / name))
        # where sshd sees its files: on the host, or inside the chroot
        base = self.rootfs / "etc" / "edgedistill-test" if self.rootfs else self.workdir / "sshd"
        base.mkdir(parents=True, exist_ok=True)
        seen = Path("/etc/edgedistill-test") if self.rootfs else base
        shutil.copy(keys / "host", base / "host_key")
        os.chmod(base / "host_key", 0o600)
        shutil.copy(keys / "client.pub", base / "authorized_keys")
        (base / "sshd_config").write_text(
            f"ListenAddress {self.netns.device_ip}\nPort 22\nHostKey {seen}/host_key\nAuthorizedKeysFile {seen}/authorized_keys\n"
            "PidFile none\nUsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nSubsystem sftp internal-sftp\nLogLevel ERROR\n"
            # sessions get the Pi's qemu settings too (sshd does not pass its own environment on)
            + ("".join(f"SetEnv {k}={v}\n" for k, v in PI_ENV.items()) if self.rootfs else "")
        )
        run_dir = (self.rootfs or Path("/")) / "run" / "sshd"
        run_dir.mkdir(parents=True, exist_ok=True)
        sshd = ["/usr/sbin/sshd", "-D", "-e", "-f", f"{seen}/sshd_config"]
        cmd = ["ip", "netns", "exec", self.netns.name]
        if self.rootfs is None:
            cmd += sshd
        else:
            cmd += as_raspberry_pi(self.rootfs, ["chroot", str(self.rootfs), *sshd])
        self.log = open(self.workdir / "sshd.log", "ab")
        env = {**os.environ, **PI_ENV} if self.rootfs else None
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        host_pub = (keys / "host.pub").read_text().split()[:2]
        (self.workdir / "known_hosts").write_text(f"{self.netns.device_ip} {' '.join(host_pub)}\n")
        self.ssh_config = self.workdir / "ssh_config"
        self.ssh_config.write_text(
            f"Host testdevice\n  HostName {self.netns.device_ip}\n  User root\n  IdentityFile {keys / 'client'}\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {self.workdir / 'known_hosts'}\n  StrictHostKeyChecking yes\n  ConnectTimeout 20\n"
        )
        self.destination = "testdevice"
        self._wait_listening(60)

    def _wait_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {(self.workdir / 'sshd.log').read_text()[-2000:]}")
            try:
                with socket.create_connection((self.netns.device_ip, 22), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("sshd did not start listening")

    def stop_sshd(self) -> None:
        """Stop the device's sshd (and so every session it serves): the device 'goes away'."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        # sshd's per-connection children outlive the listener: kill whatever still runs in the namespace
        pids = subprocess.run(["ip", "netns", "pids", self.netns.name], capture_output=True, text=True).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), 9)
            except (ProcessLookupError, ValueError):
                pass

    def close(self) -> None:
        self.stop_sshd()
        self.netns.close()
        if hasattr(self, "log"):
            self.log.close()
