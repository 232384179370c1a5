"""The build stages. Each is a class with typed inputs, registered by name in STAGES."""

from edgedistill.pipeline.stages.base import STAGES, Stage, register_stage, run_stage

__all__ = ["STAGES", "Stage", "register_stage", "run_stage"]
