from __future__ import annotations

import sys

import pytest

from edgedistill.devices.profiles import DEVICES, DeviceProfile, get_device, register_device
from edgedistill.devices.transport import LocalTransport


def test_raspberry_pi_4_profile():
    pi = get_device("rpi4")
    assert pi.arch == "aarch64" and pi.cores == 4 and "Cortex-A72" in pi.cpu and pi.threads == 4


def test_profiles_say_how_to_measure():
    assert {"rpi4", "rpi5", "rpi-zero2w", "android-arm64", "pixel-7"} <= set(DEVICES)
    assert get_device("rpi4").transport == "ssh" and get_device("rpi4").runtime == "python"
    phone = get_device("pixel-7")
    assert (phone.os, phone.transport, phone.runtime, phone.cpu_mask) == ("android", "adb", "benchmark_model", "f0")


def test_unknown_device_lists_the_known_ones():
    with pytest.raises(KeyError, match="unknown target 'toaster' .*rpi4"):
        get_device("toaster")


def test_duplicate_registration_is_refused():
    with pytest.raises(ValueError, match="registered twice"):
        register_device(DeviceProfile("rpi4", "", "", "", "", 1, 1, 1))
    assert DEVICES["rpi4"].description == "Raspberry Pi 4 Model B"


def test_local_transport_push_run_pull_and_cleanup(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("payload")
    with LocalTransport() as t:
        remote = t.push(src, "copy.txt")
        result = t.run([t.python, "-c", "import sys; print(open(sys.argv[1]).read()); sys.exit(3)", remote], timeout=60)
        assert (result.exit_code, result.stdout.strip()) == (3, "payload")
        t.pull(remote, tmp_path / "back.txt")
        workdir = t.workdir
    assert (tmp_path / "back.txt").read_text() == "payload"
    assert not workdir.exists()
    assert LocalTransport.python == sys.executable


@pytest.mark.parametrize(
    "spec, kind",
    [
        ("local", "LocalTransport"),
        ("adb:emulator-5554", "AdbTransport"),
        ("pi@raspberrypi.local", "SSHTransport"),
        ("ssh:pi@10.0.0.2", "SSHTransport"),
    ],
)
def test_device_strings_pick_the_transport(spec, kind):
    from edgedistill.devices.connect import open_transport

    with open_transport(spec, python="python3.11") as t:
        assert type(t).__name__ == kind


@pytest.mark.parametrize(
    "spec", ["adb:", "-oProxyCommand=evil", "ssh:-oProxyCommand=evil", "ssh:", "pi@host; rm -rf /", ""]
)
def test_bad_device_strings_are_refused(spec):
    from edgedistill.devices.connect import open_transport
    from edgedistill.errors import EdgeDistillError

    with pytest.raises(EdgeDistillError):
        open_transport(spec)


def test_push_once_reuses_a_pushed_file(tmp_path):
    src = tmp_path / "runner.py"
    src.write_text("v1")
    with LocalTransport() as t:
        first = t.push_once(src, "runner.py")
        (t.workdir / "runner.py").write_text("already there")
        assert t.push_once(src, "runner.py") == first
        assert (t.workdir / "runner.py").read_text() == "already there"  # not copied again
