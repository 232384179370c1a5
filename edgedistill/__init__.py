"""edgedistill: teacher -> small student -> int8 TFLite/ONNX, verified and measured for edge devices.

This folder is the ground floor: the click CLI (`cli`, the only module that imports from everywhere),
and what every package may use: `errors` (one-line errors), `fsutil` (atomic writes, hashes) and
`progress` (rich bars). Apart from the CLI, nothing here imports another edgedistill package.
"""

__version__ = "0.1.0"
