"""Every figure the README cites comes from a results file that says how it was made: the commit (clean: the
exact code), the command that regenerates it, the date, the machine and the library versions."""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path

import pytest

from edgedistill.benchmarks.suites.provenance import FIELDS

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
CITED = sorted(set(re.findall(r"benchmarks/results/([\w.-]+\.\w+)", (ROOT / "README.md").read_text())))


def test_the_readme_cites_results_files_and_every_results_file_is_cited():
    assert CITED, "the README cites no results file"
    on_disk = sorted(p.name for p in RESULTS.iterdir() if not p.name.startswith("."))
    assert on_disk == CITED, "a results file the README does not cite, or a cited one that is missing"


@pytest.mark.parametrize("name", [n for n in CITED if n.endswith(".json")])
def test_a_results_file_records_its_provenance(name):
    path = RESULTS / name
    assert path.is_file(), f"{path} is cited by the README but missing"
    provenance = json.loads(path.read_text()).get("provenance")
    assert isinstance(provenance, dict), f"{name}: no provenance"
    assert set(FIELDS) <= set(provenance), f"{name}: lacks {set(FIELDS) - set(provenance)}"
    assert re.fullmatch(r"[0-9a-f]{40}", provenance["commit"]), f"{name}: commit {provenance['commit']!r} is not clean"
    assert provenance["command"].startswith(("python -m edgedistill.benchmarks.", "benchmarks/")), name
    assert datetime.datetime.fromisoformat(provenance["date"]).tzinfo is not None, name
    machine = provenance["machine"]
    assert machine["cores"] >= 1 and machine["cpu"] and machine["system"], name
    assert {"python", "torch", "numpy"} <= set(provenance["versions"]), name


@pytest.mark.parametrize("name", [n for n in CITED if not n.endswith(".json")])
def test_a_plot_is_drawn_by_the_command_of_a_results_file(name):
    """A figure is written by a suite run whose results file names it in its command."""
    drawn_by = [
        p.name
        for p in RESULTS.glob("*.json")
        if re.search(
            rf"(^|[\s/]){re.escape(name)}(\s|$)", json.loads(p.read_text()).get("provenance", {}).get("command", "")
        )
    ]
    assert (RESULTS / name).is_file() and drawn_by, f"{name}: no results file's command draws it"
