from __future__ import annotations

from importlib import metadata

from edgedistill.pipeline.store.versions import ABSENT, installed_version, tool_versions


def test_a_tool_is_named_with_its_installed_version_or_as_absent():
    found = tool_versions(["torch", "edgedistill-no-such-distribution", "torch"])
    assert found == {"edgedistill-no-such-distribution": ABSENT, "torch": metadata.version("torch")}
    assert installed_version("Torch") == installed_version("torch")  # distribution names are not case-sensitive


def test_a_gpu_build_published_under_another_name_counts_as_the_package(monkeypatch):
    """onnxruntime-gpu is onnxruntime: upgrading it must rebuild what onnxruntime made."""
    real = metadata.version

    def only_the_gpu_build(name: str) -> str:
        if name == "onnxruntime":
            raise metadata.PackageNotFoundError(name)
        return "1.99.0" if name == "onnxruntime-gpu" else real(name)

    monkeypatch.setattr(metadata, "version", only_the_gpu_build)
    installed_version.cache_clear()
    try:
        assert installed_version("onnxruntime") == "1.99.0"
    finally:
        installed_version.cache_clear()
