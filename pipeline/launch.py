"""`edgedistill build --nproc N`: the same build in N processes on this machine, started by torchrun's own
launcher (torch.distributed's elastic agent, standalone rendezvous on localhost). Rank 0 draws on this
terminal; the other ranks' output goes to log files. If any rank fails, the agent stops them all and the
user sees one line: the failing rank's own error.

For several machines, run torchrun itself on each (`torchrun --nnodes M --nproc-per-node N
--rdzv-endpoint HOST:PORT ... -m edgedistill.cli build ...`): the build reads RANK/WORLD_SIZE like here.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import uuid
from pathlib import Path

from edgedistill.errors import EdgeDistillError
from edgedistill.portable import usable_cpus

ERRORS_ENV = "EDGEDISTILL_RANK_ERRORS"  # a folder where each failing rank leaves its one error line


def launch(nproc: int, argv: list[str], log_dir: Path) -> None:
    """Run `edgedistill <argv>` as nproc ranks; raise one EdgeDistillError line if any of them fails."""
    from torch.distributed.elastic.multiprocessing.api import DefaultLogsSpecs, Std
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    log_dir.mkdir(parents=True, exist_ok=True)
    errors = Path(tempfile.mkdtemp(prefix="edgedistill-ranks-"))
    cpus = usable_cpus()
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, cpus // nproc)))  # the ranks share the cores
    os.environ[ERRORS_ENV] = str(errors)
    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=nproc,
        run_id=f"edgedistill-{uuid.uuid4().hex[:8]}",
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",
        max_restarts=0,
        monitor_interval=0.2,
        logs_specs=DefaultLogsSpecs(
            log_dir=str(log_dir), redirects={rank: Std.ALL for rank in range(1, nproc)}, tee=Std.NONE
        ),
    )
    quiet_agent = [logging.getLogger(name) for name in ("torch.distributed.elastic", "torch.distributed.launcher")]
    levels = [logger.level for logger in quiet_agent]
    for logger in quiet_agent:
        logger.setLevel(logging.CRITICAL)
    try:
        elastic_launch(config, sys.executable)("-m", "edgedistill.cli", *argv)
    except ChildFailedError as exc:
        raise EdgeDistillError(_first_error(errors, exc)) from None
    finally:
        for logger, level in zip(quiet_agent, levels, strict=True):
            logger.setLevel(level)
        os.environ.pop(ERRORS_ENV, None)
        for file in errors.iterdir():
            file.unlink()
        errors.rmdir()


def _first_error(errors: Path, exc) -> str:
    """The lowest failing rank's own error line, else what the agent knows of how it ended."""
    for file in sorted(errors.iterdir(), key=lambda f: int(f.stem.removeprefix("rank"))):
        text = file.read_text().strip()
        if text:
            return text.removeprefix("error: ")
    rank, failure = min(exc.failures.items()) if exc.failures else (0, None)
    code = getattr(failure, "exitcode", "?")
    return f"training process (rank {rank}) ended with exit code {code}"


def report_rank_error(line: str) -> bool:
    """In a launched world, leave this rank's error line for the launcher (which prints one); False otherwise."""
    folder = os.environ.get(ERRORS_ENV)
    if not folder or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    Path(folder, f"rank{os.environ.get('RANK', '0')}").write_text(line + "\n")
    return True
