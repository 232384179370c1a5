"""The build stages. Each is a class with typed inputs, registered by name in STAGES."""

from edgedistill.pipeline.stages import baseline, benchmark, distill, export, prune, verify  # noqa: E402,F401  (fill the registry)
from edgedistill.pipeline.stages.base import STAGES, Stage, register_stage, run_stage

__all__ = ["STAGES", "Stage", "register_stage", "run_stage"]
