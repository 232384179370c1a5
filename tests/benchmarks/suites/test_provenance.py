from __future__ import annotations

import subprocess

from edgedistill.benchmarks.suites.provenance import FIELDS, commit, provenance


def _git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def test_the_commit_is_dirty_for_changed_code_not_for_changed_results(tmp_path):
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "benchmarks" / "results" / "r.json").write_text("{}\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    (tmp_path / "benchmarks" / "results" / "r.json").write_text('{"rows": []}\n')  # a suite wrote its results
    assert commit(tmp_path) == head
    (tmp_path / "code.py").write_text("x = 2\n")
    assert commit(tmp_path) == head + "+dirty"
    assert commit(tmp_path / "benchmarks") == head + "+dirty"  # any folder of the checkout
    assert commit(tmp_path.parent / "elsewhere") == "unknown"


def test_provenance_names_the_command_to_rerun_and_every_field():
    record = provenance(["/x/benchmarks/suites/compression.py", "--ratios", "0", "0.5", "--json", "out file.json"])
    assert set(FIELDS) <= set(record)
    assert (
        record["command"] == "python -m edgedistill.benchmarks.suites.compression --ratios 0 0.5 --json 'out file.json'"
    )
    assert record["machine"]["cores"] >= 1 and record["versions"]["torch"]
