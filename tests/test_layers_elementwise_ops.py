"""Elementwise, normalisation and reduction layers (add, multiply, average, max, min,
l2normalize, lrn, scale, bias, unary, clip, reduce, dot, copy, loadConstant) against torch.

Each case builds a small network with coremltools' builder (``tests.layer_networks``), runs it
in float64 through ``runtime.nn.graph`` and compares with torch float64 functional ops on the
NCHW tensor, or with an independent numpy expression where torch has no equivalent.
"""

from __future__ import annotations

import numpy as np
import pytest

from runtime.nn.graph import compile_network
from tests.layer_networks import close, network, rand, run
from tests.optional import require
from updatable.errors import ShapeError

# every test here compares with torch: without it the module is skipped
torch = require("torch")
F = require("torch.nn.functional")

# ---- elementwise: add, multiply, average, max, min --------------------------------------

BROADCASTS = [  # per-example shapes [C, H, W] of the inputs
    [(3, 4, 5), (3, 4, 5)],
    [(3, 4, 5), (3, 1, 1), (1, 4, 5)],
    [(1, 1, 1), (2, 3, 3), (2, 1, 1)],
    [(4, 2, 6), (1, 1, 1), (4, 2, 6), (1, 2, 6)],
]
TORCH_FOLD = {"ADD": torch.add, "MULTIPLY": torch.mul, "MAX": torch.maximum, "MIN": torch.minimum}


@pytest.mark.parametrize("mode", ["ADD", "MULTIPLY", "AVE", "MAX", "MIN"])
@pytest.mark.parametrize("shapes", BROADCASTS)
def test_elementwise_broadcasts_like_torch(mode, shapes):
    rng = np.random.default_rng(len(shapes))
    names = [f"x{i}" for i in range(len(shapes))]
    spec = network(
        dict(zip(names, shapes, strict=True)), lambda b: b.add_elementwise("op", names, "out", mode)
    )
    arrays = {name: rand(rng, 2, *chw) for name, chw in zip(names, shapes, strict=True)}
    tensors = [torch.from_numpy(arrays[name]) for name in names]
    if mode == "AVE":
        expected = torch.stack(torch.broadcast_tensors(*tensors)).mean(0)
    else:
        expected = tensors[0]
        for t in tensors[1:]:
            expected = TORCH_FOLD[mode](expected, t)
    close(run(spec, arrays)["out"], expected, mode)


@pytest.mark.parametrize(
    "mode, alpha, reference",
    [
        ("ADD", 2.5, lambda x: x + 2.5),
        ("MULTIPLY", -3.0, lambda x: -3.0 * x),
    ],
)
def test_single_input_add_and_multiply_use_alpha(mode, alpha, reference):
    rng = np.random.default_rng(1)
    spec = network({"x": (3, 2, 2)}, lambda b: b.add_elementwise("op", ["x"], "out", mode, alpha))
    x = rand(rng, 4, 3, 2, 2)
    close(run(spec, {"x": x})["out"], reference(x), mode)


def test_elementwise_shapes_that_do_not_broadcast_are_refused():
    spec = network(
        {"a": (3, 4, 5), "b": (2, 4, 5)},
        lambda b: b.add_elementwise("sum", ["a", "b"], "out", "ADD"),
    )
    with pytest.raises(ShapeError, match=r"layer 'sum' \(add\): inputs do not broadcast"):
        compile_network(spec)


# ---- normalisations -----------------------------------------------------------------------


def test_l2normalize_divides_by_the_norm_over_c_h_w():
    rng = np.random.default_rng(4)
    spec = network({"x": (3, 2, 5)}, lambda b: b.add_l2_normalize("l2", "x", "out", 1e-3))
    x = rand(rng, 3, 3, 2, 5)
    t = torch.from_numpy(x)
    expected = t / torch.sqrt((t * t).sum(dim=(1, 2, 3), keepdim=True) + np.float32(1e-3))
    close(run(spec, {"x": x})["out"], expected, "l2normalize")


@pytest.mark.parametrize("size", [1, 3, 5])
def test_lrn_with_odd_windows_matches_torch(size):
    rng = np.random.default_rng(size)
    alpha, beta, k = 0.3, 0.75, 2.0
    spec = network({"x": (7, 3, 4)}, lambda b: b.add_lrn("lrn", "x", "out", alpha, beta, size, k))
    x = rand(rng, 2, 7, 3, 4)
    expected = F.local_response_norm(
        torch.from_numpy(x), size, alpha=np.float32(alpha), beta=np.float32(beta), k=k
    )
    close(run(spec, {"x": x})["out"], expected, f"lrn {size}", rtol=1e-10)


def test_lrn_with_an_even_window_follows_caffe_and_onnx_placement():
    rng = np.random.default_rng(9)
    alpha, beta, k, size = 0.5, 0.6, 1.5, 4
    spec = network({"x": (6, 2, 2)}, lambda b: b.add_lrn("lrn", "x", "out", alpha, beta, size, k))
    x = rand(rng, 2, 6, 2, 2)
    expected = np.empty_like(x)
    for c in range(6):  # window [c - (size - 1) // 2, c + size // 2], clipped
        window = x[:, max(0, c - 1) : min(6, c + 3)]
        s = (window**2).sum(axis=1)
        expected[:, c] = x[:, c] / (k + np.float32(alpha) / size * s) ** np.float32(beta)
    close(run(spec, {"x": x})["out"], expected, "lrn even", rtol=1e-10)
    # coremltools' own expectation: alpha 2, beta 3, size 1, k 8 on ones gives 1e-3
    spec = network({"x": (1, 3, 3)}, lambda b: b.add_lrn("lrn", "x", "out", 2, 3, 1, 8))
    close(run(spec, {"x": np.ones((1, 1, 3, 3))})["out"], np.full((1, 1, 3, 3), 1e-3), "example")


# ---- scale, bias, unary, clip -------------------------------------------------------------

PARAM_SHAPES = [[1], [3], [1, 4, 5], [3, 4, 5]]


@pytest.mark.parametrize("scale_shape", PARAM_SHAPES)
@pytest.mark.parametrize("bias_shape", [None, *PARAM_SHAPES])
def test_scale_and_bias_broadcast_core_ml_parameter_shapes(scale_shape, bias_shape):
    rng = np.random.default_rng(len(scale_shape) * 5 + len(bias_shape or []))
    w = rng.standard_normal(scale_shape).astype(np.float32)
    b = rng.standard_normal(bias_shape or [1]).astype(np.float32)
    spec = network(
        {"x": (3, 4, 5)},
        lambda bl: bl.add_scale(
            "scale",
            w,
            b,
            bias_shape is not None,
            "x",
            "out",
            shape_scale=scale_shape,
            shape_bias=bias_shape,
        ),
    )
    x = rand(rng, 2, 3, 4, 5)

    def as_nchw(values, shape):  # [1] and [C] broadcast along channels, others are [C|1, H, W]
        v = torch.from_numpy(values.astype(np.float64))
        return v.reshape(1, -1, 1, 1) if len(shape) == 1 else v.reshape(1, *shape)

    expected = torch.from_numpy(x) * as_nchw(w, scale_shape)
    if bias_shape is not None:
        expected = expected + as_nchw(b, bias_shape)
    close(run(spec, {"x": x})["out"], expected, "scale")
    if bias_shape is not None:
        spec = network({"x": (3, 4, 5)}, lambda bl: bl.add_bias("bias", b, "x", "out", bias_shape))
        close(run(spec, {"x": x})["out"], torch.from_numpy(x) + as_nchw(b, bias_shape), "bias")


def test_scale_parameters_of_the_wrong_shape_are_refused():
    spec = network(
        {"x": (3, 4, 5)},
        lambda b: b.add_scale("scale", np.ones(4), None, False, "x", "out", shape_scale=[4]),
    )
    with pytest.raises(ShapeError, match=r"scale shape \[4\] does not fit .* \[3, 4, 5\]"):
        compile_network(spec)


UNARY = [
    ("sqrt", {}, lambda t: torch.sqrt(t)),
    ("rsqrt", {"epsilon": 1e-4}, lambda t: 1 / torch.sqrt(t + np.float32(1e-4))),
    ("inverse", {"epsilon": 1e-4}, lambda t: 1 / (t + np.float32(1e-4))),
    ("power", {"alpha": 3.0}, lambda t: t**3),
    ("exp", {}, torch.exp),
    ("log", {"epsilon": 1e-3}, lambda t: torch.log(t + np.float32(1e-3))),
    ("abs", {}, torch.abs),
    ("threshold", {"alpha": 0.7}, lambda t: torch.clamp(t, min=np.float32(0.7))),
]


@pytest.mark.parametrize("mode, extra, reference", UNARY)
@pytest.mark.parametrize("scale, shift", [(1.0, 0.0), (0.5, 3.0)])
def test_unary_functions_with_shift_and_scale_match_torch(mode, extra, reference, scale, shift):
    rng = np.random.default_rng(len(mode))
    spec = network(
        {"x": (2, 3, 3)},
        lambda b: b.add_unary("u", "x", "out", mode, shift=shift, scale=scale, **extra),
    )
    x = rng.uniform(0.5, 2.0, (2, 2, 3, 3)) if mode != "abs" else rand(rng, 2, 2, 3, 3)
    expected = reference(torch.from_numpy(x) * np.float32(scale) + np.float32(shift))
    close(run(spec, {"x": x})["out"], expected, mode, rtol=1e-10)


def test_unary_defaults_epsilon_and_scale_when_zero():
    layer_spec = network({"x": (1, 1, 2)}, lambda b: b.add_unary("u", "x", "out", "inverse"))
    params = layer_spec.neuralNetwork.layers[0].unary
    params.epsilon, params.scale = 0.0, 0.0  # "defaults to 1e-6 / 1.0 if not set or set to 0"
    x = np.float64([1.0, 3.0]).reshape(1, 1, 1, 2)
    close(run(layer_spec, {"x": x})["out"], 1 / (x + np.float32(1e-6)), "defaults")


def test_clip_matches_torch_clamp():
    rng = np.random.default_rng(5)
    spec = network({"x": (3, 2, 2)}, lambda b: b.add_clip("relu6", "x", "out", 0.0, 6.0))
    x = rand(rng, 2, 3, 2, 2) * 5
    close(run(spec, {"x": x})["out"], torch.clamp(torch.from_numpy(x), 0, 6), "clip")


# ---- reduce, dot, copy, loadConstant ------------------------------------------------------

REDUCE_AXES = {"CHW": (1, 2, 3), "HW": (2, 3), "C": (1,), "H": (2,), "W": (3,)}
REDUCTIONS = {
    "sum": lambda t, d: t.sum(d, keepdim=True),
    "avg": lambda t, d: t.mean(d, keepdim=True),
    "prod": lambda t, d: (
        t.reshape(*t.shape[: d[0]], -1, *t.shape[d[-1] + 1 :])
        .prod(d[0], keepdim=True)
        .reshape(*[1 if i in d else s for i, s in enumerate(t.shape)])
    ),
    "logsum": lambda t, d: torch.log(t + np.float32(1e-6)).sum(d, keepdim=True),
    "sumsquare": lambda t, d: (t * t).sum(d, keepdim=True),
    "L1": lambda t, d: t.abs().sum(d, keepdim=True),
    "L2": lambda t, d: torch.sqrt((t * t).sum(d, keepdim=True)),
    "max": lambda t, d: t.amax(d, keepdim=True),
    "min": lambda t, d: t.amin(d, keepdim=True),
}


@pytest.mark.parametrize("axis", sorted(REDUCE_AXES))
@pytest.mark.parametrize("mode", sorted(REDUCTIONS))
def test_reduce_matches_torch(mode, axis):
    rng = np.random.default_rng(len(mode) + len(axis))
    spec = network({"x": (3, 4, 2)}, lambda b: b.add_reduce("r", "x", "out", axis, mode))
    x = rng.uniform(0.5, 1.5, (2, 3, 4, 2))
    expected = REDUCTIONS[mode](torch.from_numpy(x), REDUCE_AXES[axis])
    close(run(spec, {"x": x})["out"], expected, f"{mode} over {axis}", rtol=1e-10)


@pytest.mark.parametrize("axis", ["C", "H", "W"])
def test_reduce_argmax_returns_the_first_index(axis):
    x = np.zeros((1, 3, 4, 5))
    x[0, 1, 2, 3] = x[0, 2, 3, 4] = 5.0  # ties resolve to the first position
    spec = network({"x": (3, 4, 5)}, lambda b: b.add_reduce("r", "x", "out", axis, "argmax"))
    dim = REDUCE_AXES[axis][0]
    expected = torch.from_numpy(x).argmax(dim, keepdim=True).double()
    close(run(spec, {"x": x})["out"], expected, f"argmax {axis}")
    spec = network({"x": (3, 4, 5)}, lambda b: b.add_reduce("r", "x", "out", "HW", "argmax"))
    with pytest.raises(ShapeError, match="ARGMAX reduces one axis"):
        compile_network(spec)


@pytest.mark.parametrize("mode", ["DOT", "COS"])
def test_dot_and_cosine_similarity_match_torch(mode):
    rng = np.random.default_rng(6)
    spec = network(
        {"a": (7, 1, 1), "b": (7, 1, 1)},
        lambda b: b.add_elementwise("dot", ["a", "b"], "out", mode),
    )
    a, b = rand(rng, 3, 7, 1, 1), rand(rng, 3, 7, 1, 1)
    ta, tb = torch.from_numpy(a[:, :, 0, 0]), torch.from_numpy(b[:, :, 0, 0])
    expected = (ta * tb).sum(1) if mode == "DOT" else F.cosine_similarity(ta, tb, dim=1)
    close(run(spec, {"a": a, "b": b})["out"], expected.reshape(3, 1, 1, 1), mode)


def test_copy_may_overwrite_a_blob_and_later_layers_read_the_new_value():
    rng = np.random.default_rng(7)

    def layers(b):
        b.add_elementwise("double", ["x"], "y", "MULTIPLY", 2.0)
        b.add_elementwise("plus", ["y"], "z", "ADD", 1.0)
        b.add_copy("copy", "z", "y")  # overwrites y
        b.add_elementwise("out", ["y", "x"], "out", "ADD")

    spec = network({"x": (2, 2, 2)}, layers)
    x = rand(rng, 2, 2, 2, 2)
    close(run(spec, {"x": x})["out"], (2 * x + 1) + x, "copy overwrite")


def test_load_constant_is_repeated_over_the_batch():
    rng = np.random.default_rng(8)
    constant = rng.standard_normal((2, 3, 4))

    def layers(b):
        b.add_load_constant("const", "c", constant, [2, 3, 4])
        b.add_elementwise("cat", ["x", "c"], "out", "CONCAT")

    spec = network({"x": (1, 3, 4)}, layers)
    x = rand(rng, 5, 1, 3, 4)
    expected = np.concatenate([x, np.broadcast_to(constant.astype(np.float32), (5, 2, 3, 4))], 1)
    close(run(spec, {"x": x})["out"], expected, "loadConstant")
