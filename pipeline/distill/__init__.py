"""Distillation: teachers (PyTorch, TorchScript, ONNX, precomputed logits), the training loop (streamed
batches, per-epoch checkpoints, DistributedDataParallel), the training device and precision, the
process group of a distributed build, losses and their registry, feature taps and the KD objective.
May import: data, store, config, students, the ground floor. Never report/ or stages/.
"""
