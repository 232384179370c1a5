"""The arm64 Debian rootfs that plays a Raspberry Pi 4 under qemu-user."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

CPUINFO = Path(__file__).with_name("rpi4_cpuinfo.txt")
ROOTFS_SCRIPT = Path(__file__).with_name("build_arm64_rootfs.sh")
# qemu's default "max" CPU advertises dot-product/i8mm extensions, and XNNPACK's int8 kernels for
# them compute wrong results under qemu-user: emulate the Pi 4's own core
PI_ENV = {"QEMU_CPU": "cortex-a72"}


def arm64_rootfs(dest: Path) -> Path:
    """Unpack the cached arm64 rootfs tarball into dest (building the tarball first when missing)."""
    tarball = (
        subprocess.run([str(ROOTFS_SCRIPT)], check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    )
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "--zstd", "-xf", tarball, "-C", str(dest)], check=True, capture_output=True)
    return dest


def as_raspberry_pi(rootfs: Path, argv: list[str]) -> list[str]:
    """argv run in a private mount namespace where rootfs has /proc with a Raspberry Pi 4's cpuinfo
    (LiteRT crashes under qemu-user when it reads the x86 host's) and /sys for the CPU lists.
    The mounts vanish with the process."""
    r = shlex.quote(str(rootfs))
    script = (
        f"mount -t proc proc {r}/proc && mount --bind {shlex.quote(str(CPUINFO))} {r}/proc/cpuinfo && "
        f"mount --rbind /sys {r}/sys && exec {shlex.join(argv)}"
    )
    return ["unshare", "-m", "sh", "-c", script]
