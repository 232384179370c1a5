"""An edgedistill build: config, orchestration (build, distill_chain, sweep, device_benchmark, pruning), and
the subpackages it runs on. Imports point down: orchestration -> stages -> distill, data, report ->
store, config -> the ground floor (edgedistill.errors/fsutil/progress). `config` imports no stage.
"""
