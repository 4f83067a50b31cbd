"""ONNX export, layer by layer: every layer kind the runtime runs, exported and run in ONNX
Runtime, against the runtime's own forward pass (one-layer networks from coremltools'
builder, random inputs)."""

from __future__ import annotations

import numpy as np
import pytest
from coremltools.models import datatypes
from coremltools.models.neural_network import NeuralNetworkBuilder

from tests.optional import require

# the exporter and these checks need onnx and an onnxruntime (plain or training)
require("onnx")
require("onnxruntime")

from runtime.ort import export_onnx  # noqa: E402  (imports onnx: after the skip check)
from runtime.ort.export import CONVERTERS  # noqa: E402
from tests.ort_support import assert_close, run_onnx, runtime_blob  # noqa: E402

RNG = np.random.default_rng(7)


def one_layer(inputs: dict, add, output_shape=None, nd=False):
    """A network with multiArray ``inputs`` {name: shape} and one layer added by ``add``;
    with ``nd`` the inputs are tensors of their declared rank (``EXACT_ARRAY_MAPPING``)."""
    builder = NeuralNetworkBuilder(
        [(name, datatypes.Array(*shape)) for name, shape in inputs.items()],
        [("output", datatypes.Array(*output_shape) if output_shape else None)],
        disable_rank5_shape_mapping=nd,
    )
    add(builder)
    return builder.spec


def _wb(*shape):
    return RNG.standard_normal(shape)


def _conv(**kw):
    args = dict(
        name="l",
        kernel_channels=4,
        output_channels=6,
        height=3,
        width=3,
        stride_height=1,
        stride_width=1,
        border_mode="valid",
        groups=1,
        W=_wb(3, 3, 4 // kw.get("groups", 1), 6),
        b=_wb(6),
        has_bias=True,
        input_name="x",
        output_name="output",
    )
    args.update(kw)
    if "groups" in kw:
        args["kernel_channels"] = 4 // kw["groups"]
    return lambda b: b.add_convolution(**args)


def _pool(kind, padding, **kw):
    args = dict(
        name="l",
        height=3,
        width=3,
        stride_height=2,
        stride_width=2,
        layer_type=kind,
        padding_type=padding,
        input_name="x",
        output_name="output",
    )
    args.update(kw)
    return lambda b: b.add_pooling(**args)


def _act(kind, params=None):
    return lambda b: b.add_activation("l", kind, "x", "output", params=params)


def _slice(builder, axis, start, end, stride):
    layer = builder.add_slice("l", "x", "output", axis, 0, end, stride)
    layer.slice.startIndex = start  # the builder refuses negative starts; Core ML takes them


X = {"x": (4, 7, 9)}
LAYER_CASES = {
    "conv valid": (X, _conv()),
    "conv same stride 2": (X, _conv(border_mode="same", stride_height=2, stride_width=2)),
    "conv dilation": (X, _conv(dilation_factors=[2, 1])),
    "conv groups": (X, _conv(groups=2)),
    "conv padded": (X, _conv(padding_top=1, padding_bottom=2, padding_left=0, padding_right=1)),
    "conv no bias": (X, _conv(has_bias=False, b=None)),
    "innerProduct": (
        {"x": (12,)},
        lambda b: b.add_inner_product(
            "l",
            W=_wb(5, 12),
            b=_wb(5),
            input_channels=12,
            output_channels=5,
            has_bias=True,
            input_name="x",
            output_name="output",
        ),
    ),
    "batchnorm": (
        X,
        lambda b: b.add_batchnorm(
            "l", 4, _wb(4), _wb(4), _wb(4), np.abs(_wb(4)) + 0.5, "x", "output"
        ),
    ),
    "instance norm": (
        X,
        lambda b: b.add_batchnorm(
            "l",
            4,
            _wb(4),
            _wb(4),
            input_name="x",
            output_name="output",
            compute_mean_var=True,
            instance_normalization=True,
        ),
    ),
    **{
        f"activation {k}": (X, _act(k, p))
        for k, p in [
            ("RELU", None),
            ("TANH", None),
            ("SIGMOID", None),
            ("SOFTSIGN", None),
            ("SOFTPLUS", None),
            ("LINEAR", [0.5, -1.0]),
            ("LEAKYRELU", [0.1]),
            ("ELU", 0.7),
            ("THRESHOLDEDRELU", 0.3),
            ("SIGMOID_HARD", [0.2, 0.5]),
            ("SCALED_TANH", [1.5, 0.7]),
            ("PRELU", np.array([0.1, 0.2, 0.3, 0.4])),
            ("PARAMETRICSOFTPLUS", [np.array([0.5, 1, 1.5, 2.0]), np.array([1.0, 0.5, 2, 1])]),
        ]
    },
    "max pool valid": (X, _pool("MAX", "VALID")),
    "max pool same": (X, _pool("MAX", "SAME")),
    "max pool include last pixel": (X, _pool("MAX", "INCLUDE_LAST_PIXEL")),
    "max pool include last pixel padded": (
        X,
        _pool(
            "MAX",
            "INCLUDE_LAST_PIXEL",
            padding_top=1,
            padding_bottom=1,
            padding_left=1,
            padding_right=1,
        ),
    ),
    "average pool valid padded": (
        X,
        _pool("AVERAGE", "VALID", padding_top=1, padding_bottom=1, exclude_pad_area=False),
    ),
    "average pool same exclude": (X, _pool("AVERAGE", "SAME", exclude_pad_area=True)),
    "average pool same include": (X, _pool("AVERAGE", "SAME", exclude_pad_area=False)),
    **{
        f"average pool include last pixel exclude={exclude}": (
            X,
            _pool(
                "AVERAGE",
                "INCLUDE_LAST_PIXEL",
                padding_top=1,
                padding_bottom=1,
                padding_left=1,
                padding_right=1,
                exclude_pad_area=exclude,
            ),
        )
        for exclude in (False, True)
    },
    "L2 pool": (X, _pool("L2", "VALID")),
    "global average pool": (X, _pool("AVERAGE", "VALID", is_global=True)),
    "global max pool": (X, _pool("MAX", "VALID", is_global=True)),
    "softmax": (X, lambda b: b.add_softmax("l", "x", "output")),
    "flatten channel first": (X, lambda b: b.add_flatten("l", 0, "x", "output")),
    "flatten channel last": (X, lambda b: b.add_flatten("l", 1, "x", "output")),
    "lrn": (X, lambda b: b.add_lrn("l", "x", "output", alpha=0.3, beta=0.75, local_size=3, k=2.0)),
    "l2normalize": (X, lambda b: b.add_l2_normalize("l", "x", "output", epsilon=1e-4)),
    "add alpha": (X, lambda b: b.add_elementwise("l", ["x"], "output", "ADD", alpha=0.5)),
    "multiply alpha": (X, lambda b: b.add_elementwise("l", ["x"], "output", "MULTIPLY", 1.5)),
    **{
        f"{mode.lower()} broadcast": (
            {"x": (4, 7, 9), "y": (4, 1, 1)},
            lambda b, m=mode: b.add_elementwise("l", ["x", "y"], "output", m),
        )
        for mode in ("ADD", "MULTIPLY", "AVE", "MAX", "MIN")
    },
    "concat": (
        {"x": (4, 7, 9), "y": (2, 7, 9)},
        lambda b: b.add_elementwise("l", ["x", "y"], "output", "CONCAT"),
    ),
    "reshape channel first": (X, lambda b: b.add_reshape("l", "x", "output", (9, 4, 7), 0)),
    "reshape channel last": (X, lambda b: b.add_reshape("l", "x", "output", (9, 4, 7), 1)),
    "permute": (X, lambda b: b.add_permute("l", (0, 3, 1, 2), "x", "output")),
    **{
        f"padding {kind}": (
            X,
            lambda b, k=kind: b.add_padding(
                "l",
                left=1,
                right=2,
                top=2,
                bottom=1,
                value=0.5,
                input_name="x",
                output_name="output",
                padding_type=k,
            ),
        )
        for kind in ("constant", "reflection", "replication")
    },
    **{
        f"zero padding then {kind} pool": (
            X,
            lambda b, k=kind: (
                b.add_padding(
                    "pad",
                    left=1,
                    right=1,
                    top=1,
                    bottom=1,
                    value=0.0,
                    input_name="x",
                    output_name="padded",
                ),
                b.add_pooling("l", 3, 3, 2, 2, k, "VALID", "padded", "output"),
            ),
        )
        for kind in ("MAX", "AVERAGE")
    },
    "upsample nearest": (X, lambda b: b.add_upsample("l", 2, 3, "x", "output")),
    **{
        f"upsample bilinear {m}": (
            X,
            lambda b, m=m: b.add_upsample(
                "l", 2, 2, "x", "output", mode="BILINEAR", linear_upsample_mode=m
            ),
        )
        for m in ("DEFAULT", "ALIGN_CORNERS_TRUE", "ALIGN_CORNERS_FALSE")
    },
    "scale": (
        X,
        lambda b: b.add_scale(
            "l", _wb(4), _wb(4), True, "x", "output", shape_scale=[4], shape_bias=[4]
        ),
    ),
    "bias": (X, lambda b: b.add_bias("l", _wb(1, 7, 9), "x", "output", shape_bias=[1, 7, 9])),
    **{
        f"unary {op}": (
            X,
            lambda b, op=op: b.add_unary(
                "l", "x", "output", op, alpha=2.0, shift=0.5, scale=1.5, epsilon=1e-3
            ),
        )
        for op in ("abs", "exp", "threshold", "power", "inverse")
    },
    **{
        f"unary {op} positive": (
            {"x": (4, 7, 9)},
            lambda b, op=op: b.add_unary(
                "l", "x", "output", op, shift=10.0, scale=1.0, epsilon=1e-3
            ),
        )
        for op in ("sqrt", "rsqrt", "log")
    },
    "crop amounts": (X, lambda b: b.add_crop("l", 1, 2, 2, 1, [], ["x"], "output")),
    "crop to second input": (
        {"x": (4, 7, 9), "y": (4, 3, 4)},
        lambda b: b.add_crop("l", 0, 0, 0, 0, [1, 2], ["x", "y"], "output"),
    ),
    "split": (X, lambda b: b.add_split("l", "x", ["output", "other"])),
    **{
        f"slice {axis} {start}:{end}:{stride}": (
            X,
            lambda b, a=axis, s=start, e=end, st=stride: _slice(b, a, s, e, st),
        )
        for axis, start, end, stride in [
            ("channel", 1, 3, 1),
            ("height", 0, -1, 2),
            ("width", -5, -1, 1),
            ("width", 2, 9, 3),
        ]
    },
    **{
        f"reduce {mode} {axis}": (
            {"x": (4, 7, 9)},
            lambda b, m=mode, a=axis: b.add_reduce("l", "x", "output", a, m, epsilon=1e-3),
        )
        for mode, axis in [
            ("sum", "CHW"),
            ("avg", "HW"),
            ("prod", "C"),
            ("sumsquare", "H"),
            ("L1", "W"),
            ("L2", "CHW"),
            ("max", "C"),
            ("min", "HW"),
            ("argmax", "W"),
            ("logsum", "C"),
        ]
    },
    "dot": ({"x": (5,), "y": (5,)}, lambda b: b.add_elementwise("l", ["x", "y"], "output", "DOT")),
    "cosine": (
        {"x": (5,), "y": (5,)},
        lambda b: b.add_elementwise("l", ["x", "y"], "output", "COS"),
    ),
    "copy": (X, lambda b: b.add_copy("l", "x", "output")),
    "clip": (X, lambda b: b.add_clip("l", "x", "output", min_value=-0.5, max_value=0.7)),
}


# rank-changing layers, in N-D networks as Core ML requires (the input is its declared rank)
ND_CASES = {
    # converters' shapes around a classifier head: the values keep their C order
    "reshapeStatic to [1, N]": (
        {"x": (1, 4, 3, 2)},
        lambda b: b.add_reshape_static("l", "x", "output", (1, 24)),
    ),
    "reshapeStatic to [1, C, H]": (
        {"x": (1, 24)},
        lambda b: b.add_reshape_static("l", "x", "output", (1, 4, 6)),
    ),
    "flattenTo2D": ({"x": (1, 3, 5)}, lambda b: b.add_flatten_to_2d("l", "x", "output", axis=1)),
    "reduceMean over H, W": (
        {"x": (1, 4, 3, 5)},
        lambda b: b.add_reduce_mean("l", "x", "output", axes=[2, 3], keepdims=False),
    ),
    "reduceMean over the last axis, kept": (
        {"x": (1, 6, 7)},
        lambda b: b.add_reduce_mean("l", "x", "output", axes=[-1], keepdims=True),
    ),
    # an innerProduct on [1, 4] gives [1, 3], which expandDims must read as [1, 3], not [3, 1, 1]
    "innerProduct on [1, C] then expandDims": (
        {"x": (1, 4)},
        lambda b: (
            b.add_inner_product(
                "d",
                W=_wb(3, 4),
                b=_wb(3),
                input_channels=4,
                output_channels=3,
                has_bias=True,
                input_name="x",
                output_name="z",
            ),
            b.add_expand_dims("l", "z", "output", axes=[2, 3]),
        ),
    ),
    "reduceMean over everything": (
        {"x": (1, 4, 3)},
        lambda b: b.add_reduce_mean("l", "x", "output", reduce_all=True),
    ),
    # [7, 9] -> [7, 9, 1]: C, H, W become (7, 9, 1), the values move
    "expandDims": ({"x": (7, 9)}, lambda b: b.add_expand_dims("l", "x", "output", axes=[-1])),
    # [1, 4, 7, 1] -> [1, 4, 7]: from (C, H) to (H, W)
    "squeeze": ({"x": (1, 4, 7, 1)}, lambda b: b.add_squeeze("l", "x", "output", axes=[-1])),
    "squeeze all": (
        {"x": (6, 1, 1)},
        lambda b: b.add_squeeze("l", "x", "output", squeeze_all=True),
    ),
}


@pytest.mark.parametrize("case", sorted(LAYER_CASES) + sorted(ND_CASES))
def test_each_layer_kind_matches_the_runtime(case):
    nd = case in ND_CASES
    inputs, add = ND_CASES[case] if nd else LAYER_CASES[case]
    spec = one_layer(inputs, add, nd=nd)
    feeds = {
        name: RNG.standard_normal((3, *shape)).astype(np.float32) for name, shape in inputs.items()
    }
    if "positive" in case or "logsum" in case:
        feeds = {k: np.abs(v) + 0.1 for k, v in feeds.items()}
    if "then" in case:  # negative values expose a zero padding treated as -inf
        feeds = {k: -np.abs(v) for k, v in feeds.items()}
    (onnx_out,) = run_onnx(export_onnx(spec, outputs=["output"]), feeds)
    assert_close(onnx_out, runtime_blob(spec, feeds, "output"), case)


def test_every_layer_kind_of_rank_5_networks_exports():
    """The legacy family of the registry: the kinds the export covers (N-D kinds are listed in
    their own families and export where ``CONVERTERS`` has them)."""
    from runtime.nn.layers import FAMILIES

    assert set(FAMILIES["legacy"]) <= set(CONVERTERS)
