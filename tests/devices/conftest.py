"""Device fixtures: real sshd "devices" in network namespaces (root only, as in CI)."""

from __future__ import annotations

import os
import shutil

import pytest

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
