"""Config, stages, cache and orchestration of an edgedistill build."""
