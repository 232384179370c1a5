"""The house rules of the package layout, read from the source with ast: every import (lazy ones inside
functions too) points down, and the on-device runner stands alone."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIRS: dict[str, str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]

UPPER_FLOORS = ("edgedistill.pipeline.distill", "edgedistill.pipeline.report", "edgedistill.pipeline.stages")
# module prefix -> what it must never import
RULES: dict[str, tuple[str, ...]] = {
    "edgedistill.pipeline.data": UPPER_FLOORS,
    "edgedistill.pipeline.store": (*UPPER_FLOORS, "edgedistill.pipeline.data", "edgedistill.pipeline.config"),
    "edgedistill.export": ("edgedistill.pipeline",),
    "edgedistill.students": ("edgedistill.pipeline", "edgedistill.export", "edgedistill.devices"),
    "edgedistill.devices": ("edgedistill.pipeline", "edgedistill.export", "edgedistill.students"),
    "edgedistill.pipeline.distill": ("edgedistill.pipeline.report", "edgedistill.pipeline.stages"),
    "edgedistill.pipeline.report": ("edgedistill.pipeline.stages",),
    "edgedistill.pipeline.config": ("edgedistill.pipeline.stages", "edgedistill.pipeline.build"),
    # the task seam sits under the stages and the report: they ask it, it never asks them
    "edgedistill.pipeline.tasks": (
        "edgedistill.pipeline.report",
        "edgedistill.pipeline.stages",
        "edgedistill.pipeline.student",
        "edgedistill.pipeline.build",
    ),
    "edgedistill.pipeline.student": ("edgedistill.pipeline.stages", "edgedistill.pipeline.report"),
    "edgedistill.contracts": ("edgedistill.",),  # the ground floor: every room may import the contracts
    "edgedistill.json_schemas": (
        "edgedistill.pipeline",
        "edgedistill.export",
        "edgedistill.students",
        "edgedistill.devices",
        "edgedistill.benchmarks",
    ),
    "edgedistill.errors": ("edgedistill.",),
    "edgedistill.fsutil": ("edgedistill.",),
    "edgedistill.progress": ("edgedistill.",),
    # the harness that ships never pulls in the experiment suites
    "edgedistill.benchmarks.runner": ("edgedistill.",),  # copied to the device alone
    "edgedistill.benchmarks.harness": ("edgedistill.benchmarks.suites",),
    "edgedistill.benchmarks.parsers": ("edgedistill.benchmarks.suites",),
    "edgedistill.benchmarks.report": ("edgedistill.benchmarks.suites",),
    "edgedistill.benchmarks.latency": ("edgedistill.benchmarks.suites", "edgedistill.pipeline"),
}


def modules() -> dict[str, Path]:
    """Every module of the package, by dotted name, from pyproject's package-dir."""
    found = {}
    for package, folder in PACKAGE_DIRS.items():
        for path in sorted((ROOT / folder).glob("*.py")):
            found[package if path.stem == "__init__" else f"{package}.{path.stem}"] = path
    return found


def imported_names(source: str, module: str, is_package: bool = False) -> set[str]:
    """Absolute names of everything `module` imports, anywhere in its body, relative imports resolved."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                anchor = parts if is_package else parts[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def violations(name: str, imports: set[str]) -> list[str]:
    bad = []
    for prefix, forbidden in RULES.items():
        if name == prefix or name.startswith(prefix + "."):
            bad += [
                f"{name} imports {imp}"
                for imp in sorted(imports)
                for f in forbidden
                if imp == f or imp.startswith(f if f.endswith(".") else f + ".")
            ]
    return bad


def test_the_walk_sees_lazy_and_relative_imports_and_flags_them():
    source = "import os\ndef f():\n    from edgedistill.pipeline.stages.export import ExportStage\nfrom ..distill import losses\n"
    imports = imported_names(source, "edgedistill.pipeline.data.bundle")
    assert {"edgedistill.pipeline.stages.export", "edgedistill.pipeline.distill.losses"} <= imports
    flagged = " ".join(violations("edgedistill.pipeline.data.bundle", imports))
    assert (
        "imports edgedistill.pipeline.stages.export" in flagged
        and "imports edgedistill.pipeline.distill.losses" in flagged
    )
    assert " os" not in flagged
    assert violations("edgedistill.pipeline.build", imports) == []  # orchestration may import anything


def test_every_package_folder_is_listed_in_pyproject():
    listed = {(ROOT / folder).resolve() for folder in PACKAGE_DIRS.values()}
    for init in ROOT.glob("**/__init__.py"):
        if {".venv", "tests", "build", ".git"} & set(init.relative_to(ROOT).parts):
            continue
        assert init.parent.resolve() in listed, f"{init.parent.relative_to(ROOT)} is a package missing from package-dir"


@pytest.mark.parametrize("name", sorted(modules()))
def test_imports_point_down(name):
    path = modules()[name]
    assert violations(name, imported_names(path.read_text(), name, path.stem == "__init__")) == []
