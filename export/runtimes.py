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


ROWS = 64  # images per onnxruntime run: a MobileNetV2 at 96x96 holds under 1 MB of activations per image


class OnnxModel:
    def __init__(self, path: Path, threads: int = 2) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def predict(self, x_nchw: np.ndarray) -> np.ndarray:
        """Logits for a batch of any length, run ROWS at a time: onnxruntime's working memory (every layer's
        activations at once) follows the rows of one run, not the length of the batch handed in."""
        x = np.ascontiguousarray(x_nchw, np.float32)
        first = self.session.run(None, {self.input_name: x[:ROWS]})[0]
        if len(x) <= ROWS:
            return first
        out = np.empty((len(x), *first.shape[1:]), first.dtype)
        out[:ROWS] = first
        for start in range(ROWS, len(x), ROWS):
            out[start : start + ROWS] = self.session.run(None, {self.input_name: x[start : start + ROWS]})[0]
        return out


def load_runtime(path: Path, threads: int = 2) -> TFLiteModel | OnnxModel:
    return OnnxModel(path, threads) if Path(path).suffix == ".onnx" else TFLiteModel(path, threads)
