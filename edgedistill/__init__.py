"""edgedistill: teacher -> small student -> int8 TFLite/ONNX, verified and measured for edge devices."""

__version__ = "0.1.0"
