"""Distillation: teachers (PyTorch, TorchScript, ONNX, precomputed logits), the training loop, losses and
their registry, feature taps and the KD objective. May import: data, store, config, students, the ground
floor. Never report/ or stages/.
"""
