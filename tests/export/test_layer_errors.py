from __future__ import annotations

import numpy as np

from edgedistill.export.inspect_tflite import FloatOp, module_path
from edgedistill.export.layer_errors import layer_errors
from tests.export.test_io_types import _real_samples

LOCATION = (
    "litert_torch._convert.to_channel_last_io.ChannelLastIOWrapper/edgedistill.students.dscnn.DSCNN_wrapped/"
    "torch.nn.modules.container.Sequential_features/torch.nn.modules.container.Sequential_3/torch.nn.modules.activation.ReLU_2;"
    ";litert_torch._convert.to_channel_last_io.ChannelLastIOWrapper/edgedistill.students.dscnn.DSCNN_wrapped/whatever_else"
)


def test_module_path_reads_the_pytorch_module_from_a_location_name():
    assert module_path(LOCATION) == "features.3.2"
    assert module_path("a.b.Wrapper/pkg.Net_wrapped/edgedistill.students.layers.GlobalAvgPool_pool;1") == "pool"
    assert module_path("serving_default_output_0_output") == "serving_default_output_0_output"
    assert str(FloatOp(4, "CONV_2D", ("input", LOCATION))) == "#4 CONV_2D in features.3.2"


def _samples(digits_npz, count=24):
    x = _real_samples(digits_npz, count)
    return [x[i : i + 1] for i in range(len(x))]


def test_a_well_quantized_model_has_high_sqnr_in_every_layer(built_project, digits_npz):
    errors = layer_errors(
        built_project.out / "model_fp32.tflite", built_project.out / "model_int8.tflite", _samples(digits_npz)
    )
    layers = {e.layer for e in errors}
    assert len(errors) >= 6 and any(name.startswith("features.") for name in layers)
    assert [e.sqnr_db for e in errors] == sorted(e.sqnr_db for e in errors)  # worst first
    assert min(e.sqnr_db for e in errors) > 15 and min(e.cosine for e in errors) > 0.98


def _scramble_weights_of_conv(src, dest, nth: int) -> str:
    """Copy an int8 .tflite with the weights of its nth CONV_2D reversed (same values, wrong places); returns its layer."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as fb

    model = fb.ModelT.InitFromPackedBuf(src.read_bytes(), 0)
    graph = model.subgraphs[0]
    convs = [
        op for op in graph.operators if model.operatorCodes[op.opcodeIndex].builtinCode == fb.BuiltinOperator.CONV_2D
    ]
    op = convs[nth]
    buffer = model.buffers[graph.tensors[op.inputs[1]].buffer]
    buffer.data = np.ascontiguousarray(np.asarray(buffer.data, dtype=np.uint8)[::-1])
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    dest.write_bytes(bytes(builder.Output()))
    return module_path(graph.tensors[op.outputs[0]].name.decode())


def test_a_broken_layer_is_the_first_bad_one_in_graph_order(built_project, digits_npz, tmp_path):
    broken = tmp_path / "broken.tflite"
    layer = _scramble_weights_of_conv(built_project.out / "model_int8.tflite", broken, nth=1)
    errors = layer_errors(built_project.out / "model_fp32.tflite", broken, _samples(digits_npz))
    in_graph_order = sorted(errors, key=lambda e: e.position)
    first_bad = next(e for e in in_graph_order if e.sqnr_db < 5)
    assert first_bad.layer == layer
    assert all(e.sqnr_db > 15 for e in in_graph_order if e.position < first_bad.position)
    assert errors[0].sqnr_db < 5  # and the table leads with the damage
