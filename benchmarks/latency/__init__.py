"""Latency estimates per device: kernel micro-benchmarks, a predictor fitted to them, and estimates of a model."""
