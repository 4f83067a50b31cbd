"""Tensor-shaped layer kinds that compute (softmaxND, ...) against numpy in float64 on the Core
ML tensor, over randomized shapes and axes (negative ones included) with a fixed seed, and
their refusals.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from runtime.kernels import special
from runtime.nn.graph import compile_network
from tests.layer_networks import network as rank5_network
from tests.nd_networks import network, run
from tests.optional import needs, optional_import
from updatable.errors import ShapeError

torch = optional_import("torch")


def random_shape(rng, low_rank=1, high_rank=5, high=4):
    rank = int(rng.integers(low_rank, high_rank + 1))
    return tuple(int(d) for d in rng.integers(1, high + 1, size=rank))


def numpy_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# ---- softmaxND -----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(10))
def test_softmax_nd_along_any_axis(seed):
    rng = np.random.default_rng(seed)
    shape = random_shape(rng)
    axis = int(rng.integers(-len(shape), len(shape)))
    spec = network({"x": shape}, lambda b: b.add_softmax_nd("s", "x", "out", axis=axis))
    x = 5 * rng.standard_normal((3, *shape))
    expected = numpy_softmax(x, axis + 1 if axis >= 0 else axis)
    np.testing.assert_allclose(run(spec, {"x": x})["out"], expected, rtol=1e-12, atol=1e-15)


def test_softmax_nd_is_stable_for_large_logits():
    spec = network({"x": (1, 3)}, lambda b: b.add_softmax_nd("s", "x", "out", axis=-1))
    x = np.array([[[1000.0, 999.0, -1000.0]]])
    np.testing.assert_allclose(run(spec, {"x": x})["out"], numpy_softmax(x, -1), rtol=1e-12)


def test_softmax_nd_over_1_k_equals_the_rank_5_softmax_over_k_bit_for_bit():
    x = np.random.default_rng(0).standard_normal((4, 7)).astype(np.float32)
    nd = network({"x": (1, 7)}, lambda b: b.add_softmax_nd("s", "x", "out", axis=1))
    rank5 = rank5_network({"x": (7, 1, 1)}, lambda b: b.add_softmax("s", "x", "out"))
    legacy = compile_network(rank5).run({"x": x.reshape(4, 1, 1, 7)})["out"]
    np.testing.assert_array_equal(
        run(nd, {"x": x.reshape(4, 1, 7)})["out"].reshape(4, 7), legacy.reshape(4, 7)
    )


def test_softmax_nd_refuses_an_axis_out_of_range():
    spec = network({"x": (2, 3)}, lambda b: b.add_softmax_nd("s", "x", "out", axis=2))
    with pytest.raises(
        ShapeError,
        match=r"layer 's' \(softmaxND\): axis 2 is out of range for "
        r"a tensor of rank 2; expected a value in \[-2, 1\]",
    ):
        compile_network(spec)


# ---- batchedMatmul -------------------------------------------------------------------------

MATMUL_CASES = [
    # (a shape, b shape, transposeA, transposeB)
    ((3, 4), (4, 5), False, False),
    ((2, 3, 4), (4, 5), False, False),
    ((4, 3), (2, 5, 4), True, True),
    ((2, 1, 3, 4), (5, 4, 6), False, False),
    ((4,), (4, 5), False, False),  # rank 1 a: (1, 4), output rank 2
    ((3, 4), (4,), False, False),  # rank 1 b: (4, 1)
    ((1, 4, 16, 8), (1, 4, 16, 8), False, True),  # attention scores q k^T
]


@pytest.mark.parametrize(("a_shape", "b_shape", "ta", "tb"), MATMUL_CASES)
def test_batched_matmul_of_two_inputs_follows_numpy_matmul(a_shape, b_shape, ta, tb):
    spec = network(
        {"a": a_shape, "b": b_shape},
        lambda b: b.add_batched_mat_mul("m", ["a", "b"], "out", transpose_a=ta, transpose_b=tb),
    )
    rng = np.random.default_rng(len(a_shape) * 7 + len(b_shape))
    a, b = rng.standard_normal((2, *a_shape)), rng.standard_normal((2, *b_shape))
    pa = a[:, None, :] if len(a_shape) == 1 else a  # the proto's promotions
    pb = b[..., None] if len(b_shape) == 1 else b
    pa = np.swapaxes(pa, -1, -2) if ta else pa
    pb = np.swapaxes(pb, -1, -2) if tb else pb
    rank = max(pa.ndim, pb.ndim)  # leading axes behind the example axis
    pa = pa.reshape(2, *([1] * (rank - pa.ndim)), *pa.shape[1:])
    pb = pb.reshape(2, *([1] * (rank - pb.ndim)), *pb.shape[1:])
    expected = np.einsum("...ij,...jk->...ik", pa, pb)
    out = run(spec, {"a": a, "b": b})["out"]
    assert out.ndim - 1 == max(2, len(a_shape), len(b_shape))
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_batched_matmul_with_a_weight_matrix_is_x_w_plus_b():
    """W is [X1, X2] as the builder takes it (it stores the floats column-major)."""
    rng = np.random.default_rng(0)
    w, bias = rng.standard_normal((6, 3)), rng.standard_normal(3)
    spec = network(
        {"x": (2, 4, 6)},
        lambda b: b.add_batched_mat_mul(
            "m", ["x"], "out", weight_matrix_rows=6, weight_matrix_columns=3, W=w, bias=bias
        ),
    )
    x = rng.standard_normal((2, 2, 4, 6))
    stored = w.astype(np.float32).astype(np.float64), bias.astype(np.float32)
    np.testing.assert_allclose(run(spec, {"x": x})["out"], x @ stored[0] + stored[1], rtol=1e-12)


def test_batched_matmul_refusals():
    spec = network(
        {"a": (3, 4), "b": (5, 6)}, lambda b: b.add_batched_mat_mul("m", ["a", "b"], "out")
    )
    with pytest.raises(
        ShapeError,
        match=r"layer 'm' \(batchedMatmul\): cannot multiply matrices "
        r"of shapes \[3, 4\] and \[5, 6\]",
    ):
        compile_network(spec)
    spec = network(
        {"a": (2, 3, 4), "b": (3, 4, 5)}, lambda b: b.add_batched_mat_mul("m", ["a", "b"], "out")
    )
    with pytest.raises(ShapeError, match=r"do not broadcast"):
        compile_network(spec)
    spec = network(
        {"x": (2, 5)},
        lambda b: b.add_batched_mat_mul(
            "m", ["x"], "out", weight_matrix_rows=4, weight_matrix_columns=3, W=np.ones((4, 3))
        ),
    )
    with pytest.raises(
        ShapeError,
        match=r"the weight matrix is \[4, 3\]; the input of shape "
        r"\[2, 5\] needs its last axis of size X1 = 4",
    ):
        compile_network(spec)


# ---- the reduce family --------------------------------------------------------------------

REDUCTIONS = {
    "sum": lambda x, a: x.sum(axis=a),
    "mean": lambda x, a: x.mean(axis=a),
    "prod": lambda x, a: x.prod(axis=a),
    "max": lambda x, a: x.max(axis=a),
    "min": lambda x, a: x.min(axis=a),
    "l1": lambda x, a: np.abs(x).sum(axis=a),
    "l2": lambda x, a: np.sqrt((x**2).sum(axis=a)),
    "sumsquare": lambda x, a: (x**2).sum(axis=a),
    "logsum": lambda x, a: np.log(x.sum(axis=a)),
    "logsumexp": lambda x, a: np.log(np.exp(x).sum(axis=a)),
}


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("op", sorted(REDUCTIONS))
def test_reduce_kinds_over_random_axes(op, seed):
    rng = np.random.default_rng(seed)
    shape = random_shape(rng, high_rank=4)
    rank = len(shape)
    reduce_all = seed == 2
    count = int(rng.integers(1, rank + 1))
    axes = [int(a) for a in rng.choice(rank, size=count, replace=False)]
    written = [a - rank if rng.random() < 0.5 else a for a in axes]  # negative axes too
    keep = bool(seed % 2)
    spec = network(
        {"x": shape},
        lambda b: getattr(b, f"add_reduce_{op}")(
            "r", "x", "out", axes=written, keepdims=keep, reduce_all=reduce_all
        ),
    )
    x = rng.uniform(0.5, 2.0, (2, *shape))  # positive: log of sums
    reduced = tuple(range(1, rank + 1)) if reduce_all else tuple(a + 1 for a in axes)
    expected = REDUCTIONS[op](x, reduced)
    if keep:
        expected = np.expand_dims(expected, reduced)
    elif expected.ndim == 1:
        expected = expected[:, None]  # every axis reduced: shape (1,)
    out = run(spec, {"x": x})["out"]
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_reduce_log_sum_exp_does_not_overflow_and_the_mean_matches_the_zoo_form():
    spec = network({"x": (1, 3)}, lambda b: b.add_reduce_logsumexp("r", "x", "out", axes=[-1]))
    x = np.array([[[1000.0, 1000.0, -1000.0]]])
    np.testing.assert_allclose(run(spec, {"x": x})["out"], [[[1000.0 + np.log(2.0)]]], rtol=1e-12)
    spec = network(
        {"x": (1, 6, 4, 4)},
        lambda b: b.add_reduce_mean("r", "x", "out", axes=[2, 3], keepdims=False),
    )  # mobilenet's mean over H, W
    x = np.random.default_rng(1).standard_normal((2, 1, 6, 4, 4))
    np.testing.assert_allclose(run(spec, {"x": x})["out"], x.mean(axis=(3, 4)), rtol=1e-12)


def test_reduce_refuses_bad_axes():
    spec = network({"x": (2, 3)}, lambda b: b.add_reduce_sum("r", "x", "out", axes=[2]))
    with pytest.raises(
        ShapeError,
        match=r"layer 'r' \(reduceSum\): axes \[2\] must be distinct "
        r"and within \[-2, 1\]",
    ):
        compile_network(spec)


# ---- broadcastable arithmetic ---------------------------------------------------------------

BROADCASTABLE = {
    "add": np.add,
    "subtract": np.subtract,
    "multiply": np.multiply,
    "divide": np.divide,
    "max": np.maximum,
    "min": np.minimum,
    "pow": np.power,
    "mod": np.mod,
    "floor_div": np.floor_divide,
}
BROADCAST_SHAPES = [
    ((2, 3), (2, 3)),
    ((2, 3), (1,)),
    ((4, 1, 3), (2, 1)),
    ((1, 16), (1,)),
    ((3,), (2, 1, 3)),
    ((1, 1, 5), (4, 1)),
    ((2, 1, 3, 1), (5, 1, 1)),
]


@pytest.mark.parametrize(("a_shape", "b_shape"), BROADCAST_SHAPES)
@pytest.mark.parametrize("op", sorted(BROADCASTABLE))
def test_broadcastable_arithmetic_follows_numpy(op, a_shape, b_shape):
    spec = network(
        {"a": a_shape, "b": b_shape},
        lambda b: getattr(b, f"add_{op}_broadcastable")("o", ["a", "b"], "out"),
    )
    rng = np.random.default_rng(len(a_shape) + 3 * len(b_shape))
    a = rng.uniform(0.5, 3.0, (2, *a_shape)) * rng.choice([-1, 1], (2, *a_shape))
    b = rng.uniform(0.5, 3.0, (2, *b_shape)) * rng.choice([-1, 1], (2, *b_shape))
    if op == "pow":
        a = np.abs(a)
    rank = max(len(a_shape), len(b_shape))
    pa = a.reshape(2, *([1] * (rank - len(a_shape))), *a_shape)  # align behind the example axis
    pb = b.reshape(2, *([1] * (rank - len(b_shape))), *b_shape)
    np.testing.assert_allclose(
        run(spec, {"a": a, "b": b})["out"], BROADCASTABLE[op](pa, pb), rtol=1e-12
    )


def test_broadcastable_refuses_shapes_that_do_not_broadcast():
    spec = network(
        {"a": (2, 3), "b": (4, 3)}, lambda b: b.add_add_broadcastable("o", ["a", "b"], "out")
    )
    with pytest.raises(
        ShapeError,
        match=r"layer 'o' \(addBroadcastable\): inputs of shapes "
        r"\[\[2, 3\], \[4, 3\]\] do not broadcast",
    ):
        compile_network(spec)


# ---- gelu, erf, mvn -------------------------------------------------------------------------

_ERF = np.vectorize(math.erf)
GELU = {
    "EXACT": lambda x: 0.5 * x * (1 + _ERF(x / np.sqrt(2))),
    "TANH_APPROXIMATION": lambda x: (
        0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    ),
    "SIGMOID_APPROXIMATION": lambda x: x / (1 + np.exp(-1.702 * x)),
}


@pytest.mark.parametrize("mode", sorted(GELU))
def test_gelu_modes_and_erf_on_any_rank(mode):
    rng = np.random.default_rng(len(mode))
    shape = random_shape(rng)
    spec = network(
        {"x": shape},
        lambda b: (b.add_gelu("g", "x", "out", mode=mode), b.add_erf("e", "x", "erf")),
        ("out", "erf"),
    )
    x = 3 * rng.standard_normal((2, *shape))
    got = run(spec, {"x": x}, ("out", "erf"))
    np.testing.assert_allclose(got["out"], GELU[mode](x), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got["erf"], _ERF(x), rtol=1e-12, atol=1e-15)


@needs("torch")
def test_gelu_exact_matches_torch_in_float32():
    x = np.random.default_rng(3).standard_normal((4, 1, 16, 64)).astype(np.float32)
    spec = network({"x": (1, 16, 64)}, lambda b: b.add_gelu("g", "x", "out"))
    expected = torch.nn.functional.gelu(torch.from_numpy(x)).numpy()
    # torch's float32 erf loses digits where erf(x / sqrt 2) nears -1; ours rounds once
    np.testing.assert_allclose(run(spec, {"x": x})["out"], expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(("across", "variance"), [(False, True), (True, True), (False, False)])
@pytest.mark.parametrize("shape", [(1, 16, 1, 32), (2, 3, 4, 5), (3, 4, 5)])
def test_mvn_normalises_the_last_two_or_three_axes_in_either_layout(shape, across, variance):
    axes = (-3, -2, -1) if across else (-2, -1)

    def reference(x, eps=1e-5):
        centred = x - x.mean(axis=axes, keepdims=True)
        if not variance:
            return centred
        return centred / np.sqrt((centred**2).mean(axis=axes, keepdims=True) + eps)

    def nd_layers(b):
        b.add_mvn("m", "x", "out", across_channels=across, normalize_variance=variance)

    def chw_layers(b):  # a rank-5 identity (1x1 max pooling) first: mvn then runs chw
        b.add_pooling("same", 1, 1, 1, 1, "MAX", "VALID", "x", "y")
        b.add_mvn("m", "y", "out", across_channels=across, normalize_variance=variance)

    rng = np.random.default_rng(len(shape))
    x = rng.standard_normal((2, *shape))
    np.testing.assert_allclose(
        run(network({"x": shape}, nd_layers), {"x": x})["out"], reference(x), rtol=1e-10, atol=1e-12
    )
    chw = network({"x": shape}, chw_layers)
    assert compile_network(chw).tensors["out"].layout == "chw"
    np.testing.assert_allclose(run(chw, {"x": x})["out"], reference(x), rtol=1e-10, atol=1e-12)
    with pytest.raises(
        ShapeError,
        match=r"layer 'm' \(mvn\): reads a tensor of shape \[4, 5\]; "
        r"mvn needs rank 3 or more",
    ):
        compile_network(network({"x": (4, 5)}, nd_layers))


@pytest.mark.parametrize("name", ["erf", "gelu"])
def test_special_kernels_match_their_numpy_twins(name):
    x = np.random.default_rng(4).standard_normal(101).astype(np.float32) * 4
    args = () if name == "erf" else (special.EXACT,)
    for mode_args in [args] if name == "erf" else [(m,) for m in range(3)]:
        jit_out, twin_out = np.empty_like(x), np.empty_like(x)
        special.JIT[name](x, *mode_args, jit_out)
        special.NUMPY[name](x, *mode_args, twin_out)
        np.testing.assert_allclose(jit_out, twin_out, rtol=1e-6, atol=1e-9, err_msg=name)
