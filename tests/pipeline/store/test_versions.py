from __future__ import annotations

from importlib import metadata

from edgedistill.pipeline.store.versions import ABSENT, installed_version, tool_versions


def test_a_tool_is_named_with_its_installed_version_or_as_absent():
    found = tool_versions(["torch", "edgedistill-no-such-distribution", "torch"])
    assert found == {"edgedistill-no-such-distribution": ABSENT, "torch": metadata.version("torch")}
    assert installed_version("Torch") == installed_version("torch")  # distribution names are not case-sensitive
