"""The project's own benchmark and experiment scripts (`python -m edgedistill.benchmarks.suites.NAME`):
distillation, compression, build time, runner vs LiteRT's tool. Not shipped to devices; may import anything.
"""
