from __future__ import annotations

from edgedistill.benchmarks.latency.kernels import FEATURES, MEMORY_FEATURES, Kernel, model_kernels
from edgedistill.benchmarks.latency.suite import (
    FAMILIES,
    MAX_ACTIVATION,
    MAX_MACS,
    NETWORK_STYLES,
    WEIGHTS,
    KernelSpec,
    build_suite,
    draw_suite,
    network_style,
)


def test_a_model_splits_into_its_kernels_with_their_multiply_accumulates(tmp_path):
    specs = [
        KernelSpec("conv", side=12, cin=8, cout=16, kernel=3, stride=1, dtype="float32"),
        KernelSpec("depthwise", side=12, cin=16, cout=16, kernel=5, stride=2, dtype="int8"),
        KernelSpec("pool_fc", side=6, cin=32, cout=10, dtype="int8"),
    ]
    conv, depthwise, pool_fc = (model_kernels(p) for p in build_suite(specs, tmp_path))
    (c,) = [k for k in conv if k.op == "CONV_2D"]
    assert c.key == "CONV_2D.kxk/float32" and c.macs == 12 * 12 * 16 * 3 * 3 * 8
    assert c.weight_bytes == (16 * 3 * 3 * 8 + 16) * 4 and c.in_bytes == 12 * 12 * 8 * 4
    (d,) = [k for k in depthwise if k.op == "DEPTHWISE_CONV_2D"]
    assert d.key == "DEPTHWISE_CONV_2D/int8" and d.macs == 6 * 6 * 16 * 5 * 5 and d.out_bytes == 6 * 6 * 16
    (fc,) = [k for k in pool_fc if k.op == "FULLY_CONNECTED"]
    assert fc.key == "FULLY_CONNECTED/int8" and fc.macs == 32 * 10
    assert any(k.op == "MEAN" for k in pool_fc)  # the pooling is its own kernel
    assert (tmp_path / "suite.json").is_file()


def test_a_pad_a_convolution_reads_is_folded_and_a_pad_that_copies_is_not(tmp_path):
    specs = [
        KernelSpec("conv", side=12, cin=8, cout=16, kernel=3, stride=2, dtype="int8"),  # torch's symmetric padding
        KernelSpec("pad", side=6, cin=8, cout=8, dtype="int8"),
    ]
    same, pad = ([k.key for k in model_kernels(p)] for p in build_suite(specs, tmp_path))
    assert "PAD.folded/int8" in same and "CONV_2D.kxk/int8" in same and "PAD/int8" not in same
    assert pad.count("PAD/int8") == 2 and "PAD.folded/int8" not in pad


def test_a_shuffle_transpose_copies_rows_and_a_spatial_one_gathers_elements_by_its_permutation(tmp_path):
    specs = [
        KernelSpec("transpose", side=6, cin=16, cout=16, dtype="float32", variant="shuffle"),
        KernelSpec("transpose", side=6, cin=16, cout=16, dtype="float32", variant="hw"),  # square: same shapes
    ]
    shuffle, spatial = ([k.key for k in model_kernels(p)] for p in build_suite(specs, tmp_path))
    assert shuffle.count("TRANSPOSE.blocks/float32") == 1  # (N, 2, C/2, H, W) -> (N, C/2, 2, H, W)
    assert "TRANSPOSE/float32" in shuffle and "TRANSPOSE.blocks/float32" not in spatial


def test_ops_with_weights_count_their_tiles_and_other_ops_only_their_memory():
    conv8 = Kernel(0, "CONV_2D", "int8", (1, 4, 4, 8), 4096, 1024, 128, 640, variant="kxk")
    conv16 = Kernel(0, "CONV_2D", "int8", (1, 4, 4, 16), 8192, 1024, 256, 1280, variant="kxk")
    assert conv8.tiled_macs == 2 * conv8.macs and conv16.tiled_macs == conv16.macs  # 8 channels fill half a tile
    assert dict(zip(FEATURES, conv8.features()))["mmacs_c16"] == 2 * 4096 / 1e6
    mean = Kernel(0, "MEAN", "int8", (1, 1, 1, 64), 4096, 4096, 64, 0)
    kept = {name for name, value in zip(FEATURES, mean.features()) if value}
    assert kept == set(MEMORY_FEATURES) == {"dispatch", "in_kb", "out_kb"}


def test_the_suite_draws_every_family_and_dtype_within_bounds_and_repeatably():
    specs = draw_suite(2, seed=1)
    assert specs == draw_suite(2, seed=1) != draw_suite(2, seed=2)
    families = {(s.family, s.dtype) for s in specs}
    assert families == {(f, d) for f in (*FAMILIES, "layers") for d in ("int8", "float32")}
    per_dtype = 2 * sum(WEIGHTS.values()) + 4 * 2  # and 4 x per_family real-layer models
    assert len(specs) == 2 * per_dtype and len({s.name for s in specs}) == len(specs)
    drawn = [s for s in specs if s.family != "layers"]  # real layers are the students' own sizes
    assert all(s.macs() <= MAX_MACS and s.largest_activation() <= MAX_ACTIVATION for s in drawn)
    assert len(draw_suite(2, ("int8",), seed=1, layers=0)) == 2 * sum(WEIGHTS.values())


def _network(style: str, wanted) -> KernelSpec:
    """The first written network of a style (4 blocks, 48x48) whose drawn blocks satisfy `wanted`."""
    for seed in range(500):
        spec = KernelSpec("layers", 48, 3, 50, 4, 1, "int8", f"{style}{seed}")
        if wanted(list(spec.module().modules())):
            return spec
    raise AssertionError(f"no {style} network of 4 blocks is {wanted}")


def test_real_layers_include_networks_of_the_blocks_users_models_hold(tmp_path):
    """Half the real-layer models are networks written in the suite: inverted residuals (squeeze-excite gates, SiLU,
    TF same padding, as EfficientNets hold), ShuffleNet units (split, concatenation, shuffle), ResNet basic blocks
    and MLP-Mixer blocks, whose ops and their neighbours the micro-benchmarks alone do not show together."""
    import torch

    layers = [s for s in draw_suite(5, ("int8",)) if s.family == "layers"]
    styles = [network_style(s.variant) for s in layers]
    assert {s[0] for s in styles if s} == set(NETWORK_STYLES) and sum(map(bool, styles)) >= len(layers) // 2
    assert network_style("mobilenetv2") is None and network_style("inverted") is None
    # ResNets' basic blocks (gated too, after a CIFAR stem that keeps the size) and MLP-Mixer blocks with GELU
    gated = _network("residual", lambda mods: any(getattr(m, "gate", None) is not None for m in mods))
    mixer = _network("mixer", lambda mods: any(isinstance(m, torch.nn.GELU) for m in mods))
    assert gated.module()(torch.randn(1, *gated.input_shape)).shape[1] >= 8
    tokens = mixer.module()[:2](torch.randn(1, *mixer.input_shape))
    assert tokens.dim() == 3 and mixer.module()(torch.randn(1, *mixer.input_shape)).shape == tokens.shape
    efficient = _network(
        "inverted",
        lambda mods: (
            any(isinstance(m, torch.nn.SiLU) for m in mods)
            and any(getattr(m, "gate", None) is not None and getattr(m, "same", False) for m in mods)
        ),
    )
    shuffle = _network("shuffle", lambda mods: any(getattr(m, "stride", 1) == 2 for m in mods))
    for spec in (efficient, shuffle):  # the same seed, the same network
        x = torch.randn(1, *spec.input_shape)
        torch.manual_seed(0)
        a = spec.module().eval()(x)
        torch.manual_seed(0)
        assert torch.equal(a, spec.module().eval()(x))
    ops_efficient, ops_shuffle = (
        {k.key for k in model_kernels(p)} for p in build_suite([efficient, shuffle], tmp_path)
    )
    # SiLU's float island in an int8 model, and the gate's pooling inside it
    assert {"LOGISTIC/float32", "DEQUANTIZE/int8", "QUANTIZE/float32", "DEPTHWISE_CONV_2D/int8"} <= ops_efficient
    assert all(any(k.startswith(op) for k in ops_efficient) for op in ("MEAN/", "MUL/", "PAD", "CONV_2D.1x1/"))
    assert {"CONCATENATION/int8", "TRANSPOSE.blocks/int8"} <= ops_shuffle
