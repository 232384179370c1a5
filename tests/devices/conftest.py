"""Device fixtures: real sshd "devices" in network namespaces (root only, as in CI)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.devices.testbed.rootfs import arm64_rootfs
from tests.devices.testbed.sshd import SshDevice


def _require_root_tools() -> None:
    if os.geteuid() != 0:
        pytest.skip("device tests need root (network namespaces); CI runs them as root")
    for tool in ("ip", "sshd", "ssh", "ssh-keygen"):
        if shutil.which(tool) is None and not os.path.exists(f"/usr/sbin/{tool}"):
            pytest.fail(f"{tool} is missing: .ci/run installs it (openssh-server, iproute2)")


@pytest.fixture
def x86_ssh_device(tmp_path):
    """The fast tier: this host's own sshd, in a namespace of its own."""
    _require_root_tools()
    device = SshDevice(tmp_path / "x86dev")
    yield device
    device.close()


@pytest.fixture(scope="session")
def rootfs(tmp_path_factory) -> Path:
    """The arm64 Debian userland (built once by tests/devices/testbed/build_arm64_rootfs.sh, cached)."""
    _require_root_tools()
    if not Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists():
        pytest.fail(
            "qemu-aarch64 is not registered with binfmt_misc: .ci/run installs qemu-user-static and mounts binfmt_misc"
        )
    return arm64_rootfs(tmp_path_factory.mktemp("arm64") / "rootfs")


@pytest.fixture
def arm64_ssh_device(rootfs, tmp_path):
    """The emulated Raspberry Pi: the rootfs's own arm64 sshd under qemu-user, in a namespace of its own."""
    device = SshDevice(tmp_path / "armdev", rootfs=rootfs)
    yield device
    device.close()


@pytest.fixture
def adb_device(rootfs, tmp_path):
    """A test 'phone' reached through the real adb client: the test adbd serving the arm64 rootfs."""
    if shutil.which("adb") is None:
        pytest.fail("adb is missing: .ci/run installs it")
    from tests.devices.testbed.adb_device import AdbDevice

    device = AdbDevice(tmp_path / "adbdev", rootfs)
    yield device
    device.close()
