"""Installed versions of the packages a stage's output depends on, for its cache key: upgrading torch, a
converter or a runtime rebuilds what the new version could make differently, instead of reusing the old."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from importlib import metadata

ABSENT = "absent"
# builds of one package published under other names: the same code, another distribution name
ALSO_PUBLISHED_AS = {"onnxruntime": ("onnxruntime-gpu", "onnxruntime-silicon", "onnxruntime-directml")}


@functools.cache
def installed_version(distribution: str) -> str:
    """The installed version of a distribution (its importlib.metadata name, e.g. "litert-torch"), or of a build
    of it published under another name (onnxruntime-gpu for onnxruntime); else ABSENT."""
    for name in (distribution, *ALSO_PUBLISHED_AS.get(distribution, ())):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return ABSENT


def tool_versions(distributions: Iterable[str]) -> dict[str, str]:
    """{distribution: installed version} for a stage's declared tools."""
    return {name: installed_version(name) for name in sorted(set(distributions))}
