"""Run exported artifacts on the host: a .tflite in ai-edge-litert, an .onnx in onnxruntime.

Both take normalised float32 NCHW batches (what the PyTorch model takes) and return float logits;
the wrappers handle NHWC layout and int8 (de)quantization exactly as the manifest describes it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype: np.dtype) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale) + zero_point, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return (q.astype(np.float32) - zero_point) * np.float32(scale)


class TFLiteModel:
    def __init__(self, path: Path, threads: int = 2) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.interp = Interpreter(model_path=str(path), num_threads=threads)
        self.interp.allocate_tensors()
        self.inp = self.interp.get_input_details()[0]
        self.out = self.interp.get_output_details()[0]

    def predict(self, x_nchw: np.ndarray) -> np.ndarray:
        x = x_nchw.transpose(0, 2, 3, 1)
        in_dtype = np.dtype(self.inp["dtype"])
        in_scale, in_zp = self.inp["quantization"]
        out_scale, out_zp = self.out["quantization"]
        results = []
        for sample in x:
            sample = sample[None]
            if in_dtype.kind == "i" or in_dtype.kind == "u":
                sample = quantize(sample, in_scale, in_zp, in_dtype)
            self.interp.set_tensor(self.inp["index"], sample.astype(in_dtype, copy=False))
            self.interp.invoke()
            y = self.interp.get_tensor(self.out["index"])
            results.append(dequantize(y, out_scale, out_zp) if np.dtype(y.dtype).kind in "iu" else y.astype(np.float32))
        return np.concatenate(results)


class OnnxModel:
    def __init__(self, path: Path, threads: int = 2) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def predict(self, x_nchw: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: x_nchw.astype(np.float32)})[0]


def load_runtime(path: Path, threads: int = 2) -> TFLiteModel | OnnxModel:
    return OnnxModel(path, threads) if Path(path).suffix == ".onnx" else TFLiteModel(path, threads)
