"""Windows and macOS: nothing imports fcntl, workers start with spawn off Linux, and what differs is decided in
edgedistill.portable."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from edgedistill import portable

# Run in a fresh interpreter where `import fcntl` fails, as on Windows: every module of the package imports,
# the CLI answers --help and init, and the build lock is taken, refused to a second holder, and released.
WITHOUT_FCNTL = textwrap.dedent(
    """
    import importlib, importlib.abc, os, pkgutil, sys, tempfile, warnings
    from pathlib import Path

    class NoFcntl(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "fcntl":
                raise ModuleNotFoundError("No module named 'fcntl'", name="fcntl")
            return None

    sys.modules.pop("fcntl", None)
    sys.meta_path.insert(0, NoFcntl())
    warnings.simplefilter("ignore")

    modules, failed = set(sys.argv[1:]), []
    for package in sys.argv[1:]:  # edgedistill and the folders it maps in; each walked down to its modules
        path = importlib.import_module(package).__path__
        modules.update(info.name for info in pkgutil.walk_packages(path, package + "."))
    for name in sorted(modules):
        try:
            importlib.import_module(name)
        except Exception as exc:
            failed.append(f"{name}: {type(exc).__name__}: {exc}")
    assert not failed, failed
    assert "fcntl" not in sys.modules

    from click.testing import CliRunner
    from edgedistill.cli import cli
    assert CliRunner().invoke(cli, ["--help"]).exit_code == 0
    folder = Path(tempfile.mkdtemp())
    os.chdir(folder)
    result = CliRunner().invoke(cli, ["init"])
    assert result.exit_code == 0 and (folder / "edgedistill.yaml").is_file(), result.output

    from edgedistill.pipeline.store.lock import LockedError, build_lock
    with build_lock(folder / "cache"):
        try:
            with build_lock(folder / "cache"):
                raise AssertionError("a second holder got the lock")
        except LockedError as exc:
            assert "another build is running on this cache" in str(exc)
    with build_lock(folder / "cache"):
        pass
    print("modules", len(modules))
    """
)


def test_without_fcntl_every_module_imports_and_the_cli_and_build_lock_work():
    root = Path(__file__).parents[1]
    folders = sorted(p.parent.name for p in root.glob("*/__init__.py") if p.parent.name not in ("edgedistill", "tests"))
    packages = ["edgedistill", *(f"edgedistill.{name}" for name in folders)]  # the layout maps root folders in
    proc = subprocess.run([sys.executable, "-c", WITHOUT_FCNTL, *packages], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert int(proc.stdout.split()[-1]) > 80  # every module of the package was imported


@pytest.mark.parametrize(
    ("system", "method"), [("linux", "fork"), ("darwin", "spawn"), ("win32", "spawn"), ("freebsd14", "spawn")]
)
def test_workers_fork_on_linux_only(system, method):
    assert portable.start_method(system) == method


def test_the_loader_reads_the_same_batches_through_spawned_workers(tmp_path, monkeypatch):
    """Off Linux, loader workers are spawned: what they are handed pickles small and reads the same rows."""
    import multiprocessing

    import torch

    from edgedistill.pipeline.data import loader
    from tests.conftest import split_in_store

    x = np.random.default_rng(0).integers(0, 256, (40, 6, 6, 3), dtype=np.uint8)
    split = split_in_store(x, np.zeros(40, np.int64), tmp_path / "store")
    monkeypatch.setattr(loader, "process_context", lambda: multiprocessing.get_context("spawn"))
    batches = [np.arange(0, 16), np.arange(30, 40), np.array([5, 3, 1])]
    stream = loader.BatchStream(split, 1, torch.device("cpu"))
    for _ in range(2):  # two epochs through the same workers
        got = list(stream.epoch(batches))
        assert [i.tolist() for i, _ in got] == [b.tolist() for b in batches]
        for (_, raw), b in zip(got, batches):
            assert np.array_equal(raw.numpy(), x[b])
    stream.close()
