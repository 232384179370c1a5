"""Export to ONNX and TFLite (fp32 and full-integer int8), inspection, and runtime wrappers."""
