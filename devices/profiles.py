"""Registry of target device profiles: what a build is optimised and measured for."""

from __future__ import annotations

from edgedistill.contracts import DeviceProfile

DEVICES: dict[str, DeviceProfile] = {}


def register_device(profile: DeviceProfile) -> DeviceProfile:
    if profile.name in DEVICES:
        raise ValueError(f"device profile {profile.name!r} registered twice")
    DEVICES[profile.name] = profile
    return profile


def get_device(name: str) -> DeviceProfile:
    try:
        return DEVICES[name]
    except KeyError:
        known = ", ".join(sorted(DEVICES))
        raise KeyError(f"unknown target {name!r} (known: {known})") from None


register_device(
    DeviceProfile("rpi4", "Raspberry Pi 4 Model B", "linux", "aarch64", "4x Cortex-A72 @ 1.5 GHz", 4, 4096, 4)
)
register_device(DeviceProfile("rpi5", "Raspberry Pi 5", "linux", "aarch64", "4x Cortex-A76 @ 2.4 GHz", 4, 8192, 4))
register_device(
    DeviceProfile("rpi-zero2w", "Raspberry Pi Zero 2 W", "linux", "aarch64", "4x Cortex-A53 @ 1 GHz", 4, 512, 4)
)
register_device(
    DeviceProfile(
        "android-arm64",
        "Generic arm64 Android phone",
        "android",
        "aarch64",
        "big.LITTLE arm64",
        8,
        4096,
        4,
        "adb",
        "benchmark_model",
    )
)
register_device(
    DeviceProfile(
        "pixel-7",
        "Google Pixel 7 (Tensor G2)",
        "android",
        "aarch64",
        "2x Cortex-X1 + 2x A78 + 4x A55",
        8,
        8192,
        4,
        "adb",
        "benchmark_model",
        cpu_mask="f0",
    )
)
