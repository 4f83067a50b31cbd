"""Elementwise-family kinds that compute values in place (unary math, clampedReLU, comparisons,
logical ops, whereBroadcastable, the band kinds, cumSum, layerNormalization) against numpy or
torch in float64, over randomized shapes with a fixed seed, and their refusals.

Every network is written by coremltools' NeuralNetworkBuilder (EXACT_ARRAY_MAPPING) and runs
through the compiler (``tests.nd_networks.run``).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.nn.graph import compile_network
from tests.nd_networks import network, run
from tests.optional import needs, optional_import
from updatable.errors import ShapeError

torch = optional_import("torch")


def random_shape(rng, low_rank=1, high_rank=5, high=4):
    rank = int(rng.integers(low_rank, high_rank + 1))
    return tuple(int(d) for d in rng.integers(1, high + 1, size=rank))


def one_input(method, shape, **kwargs):
    return network({"x": shape}, lambda b: getattr(b, method)("l", "x", "out", **kwargs))


# ---- unary math ----------------------------------------------------------------------------

# builder method, numpy reference, input domain (low, high)
UNARY = {
    "ceil": ("add_ceil", np.ceil, (-5, 5)),
    "floor": ("add_floor", np.floor, (-5, 5)),
    "round": ("add_round", np.round, (-5, 5)),
    "sign": ("add_sign", np.sign, (-2, 2)),
    "exp2": ("add_exp2", lambda x: 2.0**x, (-4, 4)),
    "sin": ("add_sin", np.sin, (-4, 4)),
    "cos": ("add_cos", np.cos, (-4, 4)),
    "tan": ("add_tan", np.tan, (-1.4, 1.4)),
    "asin": ("add_asin", np.arcsin, (-1, 1)),
    "acos": ("add_acos", np.arccos, (-1, 1)),
    "atan": ("add_atan", np.arctan, (-5, 5)),
    "sinh": ("add_sinh", np.sinh, (-3, 3)),
    "cosh": ("add_cosh", np.cosh, (-3, 3)),
    "tanh": ("add_tanh", np.tanh, (-3, 3)),
    "asinh": ("add_asinh", np.arcsinh, (-5, 5)),
    "acosh": ("add_acosh", np.arccosh, (1, 6)),
    "atanh": ("add_atanh", np.arctanh, (-0.99, 0.99)),
}


@pytest.mark.parametrize("oneof", sorted(UNARY))
@pytest.mark.parametrize("seed", range(3))
def test_unary_math_matches_numpy(oneof, seed):
    method, reference, (low, high) = UNARY[oneof]
    rng = np.random.default_rng(seed)
    shape = random_shape(rng)
    spec = one_input(method, shape)
    assert spec.neuralNetwork.layers[0].WhichOneof("layer") == oneof
    x = rng.uniform(low, high, (3, *shape))
    np.testing.assert_allclose(run(spec, {"x": x})["out"], reference(x), rtol=1e-12, atol=0)


@needs("torch")
@pytest.mark.parametrize("oneof", sorted(UNARY))
def test_unary_math_matches_torch_in_float32(oneof):
    method, _, (low, high) = UNARY[oneof]
    x = np.random.default_rng(7).uniform(low, high, (4, 2, 5)).astype(np.float32)
    name = {
        "exp2": "exp2",
        "asin": "arcsin",
        "acos": "arccos",
        "atan": "arctan",
        "asinh": "arcsinh",
        "acosh": "arccosh",
        "atanh": "arctanh",
    }.get(oneof, oneof)
    expected = getattr(torch, name)(torch.from_numpy(x)).numpy()
    got = run(one_input(method, (2, 5)), {"x": x})["out"]
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-6)


def test_round_sends_halves_to_the_even_neighbour():
    x = np.array([[[-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49, -0.51]]])
    got = run(one_input("add_round", (1, 8)), {"x": x})["out"]
    np.testing.assert_array_equal(got, [[[-2, -2, -0, 0, 2, 2, 0, -1]]])


def test_sign_of_zero_is_zero_and_out_of_domain_values_give_nan():
    x = np.array([[[0.0, -0.0, 3.0, -1e-30]]])
    np.testing.assert_array_equal(
        run(one_input("add_sign", (1, 4)), {"x": x})["out"], [[[0, 0, 1, -1]]]
    )
    outside = np.array([[[2.0, -1.5]]])
    assert np.isnan(run(one_input("add_asin", (1, 2)), {"x": outside})["out"]).all()
    assert np.isnan(run(one_input("add_acosh", (1, 2)), {"x": outside - 2})["out"]).all()
    np.testing.assert_array_equal(
        run(one_input("add_atanh", (2,)), {"x": np.array([[1.0, -1.0]])})["out"],
        [[np.inf, -np.inf]],
    )


def test_unary_math_refuses_two_inputs():
    spec = network(
        {"x": (2,), "y": (2,)},
        lambda b: b._add_generic_layer("l", ["x", "y"], ["out"]).sin.SetInParent(),
    )
    with pytest.raises(
        ShapeError, match=r"layer 'l' \(sin\) has 2 inputs \['x', 'y'\]; this kind takes exactly 1$"
    ):
        compile_network(spec)


# ---- clampedReLU ---------------------------------------------------------------------------


@pytest.mark.parametrize(("alpha", "beta"), [(0.0, 6.0), (0.1, 1.0), (-0.5, 2.0), (2.0, -1.0)])
def test_clamped_relu_follows_the_proto_formula(alpha, beta):
    rng = np.random.default_rng(1)
    shape = random_shape(rng)
    x = 4 * rng.standard_normal((3, *shape))
    spec = one_input("add_clamped_relu", shape, alpha=alpha, beta=beta)
    alpha, beta = np.float32(alpha), np.float32(beta)  # the proto's fields are float32
    expected = np.where(x >= 0, np.minimum(beta, x), np.minimum(beta, alpha * x))
    np.testing.assert_allclose(run(spec, {"x": x})["out"], expected, rtol=1e-15)


@needs("torch")
def test_clamped_relu_with_alpha_0_and_beta_6_is_torch_relu6():
    x = np.random.default_rng(2).uniform(-9, 9, (5, 7)).astype(np.float32)
    got = run(one_input("add_clamped_relu", (7,)), {"x": x})["out"]
    np.testing.assert_array_equal(got, torch.nn.functional.relu6(torch.from_numpy(x)).numpy())


# ---- comparisons and logic ------------------------------------------------------------------

COMPARISONS = {
    "equal": (np.equal, lambda b, n, i, a: b.add_equal(n, i, "out", alpha=a)),
    "notEqual": (np.not_equal, lambda b, n, i, a: b.add_not_equal(n, i, "out", alpha=a)),
    "lessThan": (np.less, lambda b, n, i, a: b.add_less_than(n, i, "out", alpha=a)),
    "lessEqual": (
        np.less_equal,
        lambda b, n, i, a: b.add_less_than(n, i, "out", use_less_than_equal=True, alpha=a),
    ),
    "greaterThan": (np.greater, lambda b, n, i, a: b.add_greater_than(n, i, "out", alpha=a)),
    "greaterEqual": (
        np.greater_equal,
        lambda b, n, i, a: b.add_greater_than(n, i, "out", use_greater_than_equal=True, alpha=a),
    ),
}


def broadcast_pair(rng):
    """Two shapes that broadcast (different ranks, size-1 axes), and their result."""
    out = random_shape(rng, 1, 4, 3)
    first = tuple(d if rng.random() < 0.6 else 1 for d in out)
    second = tuple(d if rng.random() < 0.6 else 1 for d in out)[int(rng.integers(0, len(out))) :]
    return first, second or (1,)


def integral(rng, shape):
    """Small integers, so that equal values occur often."""
    return rng.integers(-2, 3, size=shape).astype(np.float64)


@pytest.mark.parametrize("oneof", sorted(COMPARISONS))
@pytest.mark.parametrize("seed", range(4))
def test_comparisons_broadcast_like_numpy(oneof, seed):
    reference, add = COMPARISONS[oneof]
    rng = np.random.default_rng(seed)
    a_shape, b_shape = broadcast_pair(rng)
    spec = network({"a": a_shape, "b": b_shape}, lambda b: add(b, "l", ["a", "b"], 0.0))
    a, b = integral(rng, (2, *a_shape)), integral(rng, (2, *b_shape))
    rank = max(len(a_shape), len(b_shape))
    expected = reference(
        a.reshape(2, *(1,) * (rank - len(a_shape)), *a_shape),
        b.reshape(2, *(1,) * (rank - len(b_shape)), *b_shape),
    )
    got = run(spec, {"a": a, "b": b})["out"]
    np.testing.assert_array_equal(got, expected.astype(np.float64))


@pytest.mark.parametrize("oneof", sorted(COMPARISONS))
def test_one_input_comparisons_use_alpha(oneof):
    reference, add = COMPARISONS[oneof]
    x = np.array([[[-1.0, 0.5, 1.0, 2.0, np.nan]]])
    got = run(network({"x": (1, 5)}, lambda b: add(b, "l", "x", 1.0)), {"x": x})["out"]
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(got, reference(x, 1.0).astype(np.float64))


LOGICAL = {"AND": np.logical_and, "OR": np.logical_or, "XOR": np.logical_xor}


@pytest.mark.parametrize("mode", sorted(LOGICAL))
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_logical_ops_read_nonzero_as_true_and_broadcast(mode, seed):
    rng = np.random.default_rng(seed)
    a_shape, b_shape = broadcast_pair(rng)
    spec = network(
        {"a": a_shape, "b": b_shape}, lambda b: b.add_logical("l", ["a", "b"], "out", mode)
    )
    a = integral(rng, (2, *a_shape)) * 0.5
    b = np.where(rng.random((2, *b_shape)) < 0.2, np.nan, integral(rng, (2, *b_shape)))
    rank = max(len(a_shape), len(b_shape))
    expected = LOGICAL[mode](
        a.reshape(2, *(1,) * (rank - len(a_shape)), *a_shape) != 0,
        b.reshape(2, *(1,) * (rank - len(b_shape)), *b_shape) != 0,
    )
    np.testing.assert_array_equal(run(spec, {"a": a, "b": b})["out"], expected.astype(float))


def test_logical_not_and_its_output_dtype():
    x = np.array([[0.0, -0.0, 2.0, np.nan]], dtype=np.float32)
    spec = network({"x": (4,)}, lambda b: b.add_logical("l", "x", "out", "NOT"))
    got = run(spec, {"x": x})["out"]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, [[1, 1, 0, 0]])


def test_logic_refusals_name_the_layer():
    spec = network({"a": (2, 3), "b": (4, 3)}, lambda b: b.add_less_than("l", ["a", "b"], "out"))
    with pytest.raises(
        ShapeError,
        match=r"layer 'l' \(lessThan\): inputs of shapes \[\[2, 3\], "
        r"\[4, 3\]\] do not broadcast",
    ):
        compile_network(spec)
    spec = network(
        {"a": (2,)}, lambda b: b._add_generic_layer("l", ["a"], ["out"]).logicalAnd.SetInParent()
    )
    with pytest.raises(
        ShapeError,
        match=r"layer 'l' \(logicalAnd\) has 1 input \['a'\]; this kind takes exactly 2$",
    ):
        compile_network(spec)


# ---- whereBroadcastable --------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_where_broadcastable_is_numpy_where(seed):
    rng = np.random.default_rng(seed)
    c_shape, x_shape = broadcast_pair(rng)
    y_shape = broadcast_pair(np.random.default_rng(seed + 100))[1][-len(x_shape) :]
    shapes = {
        "c": c_shape,
        "x": x_shape,
        "y": tuple(
            d if d == 1 or i >= len(x_shape) or x_shape[-1 - i] in (1, d) else 1
            for i, d in enumerate(y_shape)
        ),
    }
    try:
        np.broadcast_shapes(*shapes.values())
    except ValueError:
        shapes["y"] = (1,)
    spec = network(shapes, lambda b: b.add_where_broadcastable("w", ["c", "x", "y"], "out"))
    values = {n: integral(rng, (2, *s)) for n, s in shapes.items()}
    rank = max(len(s) for s in shapes.values())
    lifted = {
        n: v.reshape(2, *(1,) * (rank - len(shapes[n])), *shapes[n]) for n, v in values.items()
    }
    expected = np.where(lifted["c"] != 0, lifted["x"], lifted["y"])
    np.testing.assert_array_equal(run(spec, values)["out"], expected)


# ---- band kinds ----------------------------------------------------------------------------


def band_reference(x, low, high):
    rows, columns = x.shape[-2:]
    offset = np.arange(columns)[None, :] - np.arange(rows)[:, None]
    keep = np.ones((rows, columns), bool)
    if low is not None:
        keep &= offset >= low
    if high is not None:
        keep &= offset <= high
    return np.where(keep, x, 0.0)


@pytest.mark.parametrize(("lower", "upper"), [(0, 0), (-1, 0), (0, -1), (1, 2), (-1, -1), (3, 1)])
def test_matrix_band_part_keeps_the_band(lower, upper):
    rng = np.random.default_rng(100 + lower * 10 + upper)
    shape = random_shape(rng, 2, 4, 5)
    x = rng.standard_normal((2, *shape))
    spec = one_input("add_matrix_band_part", shape, num_lower=lower, num_upper=upper)
    expected = band_reference(x, None if lower < 0 else -lower, None if upper < 0 else upper)
    np.testing.assert_array_equal(run(spec, {"x": x})["out"], expected)


@pytest.mark.parametrize("k", [-2, -1, 0, 1, 3])
def test_triangular_kinds_are_numpy_tril_and_triu(k):
    rng = np.random.default_rng(k + 5)
    x = rng.standard_normal((2, 3, 4, 5))
    lower = run(one_input("add_lower_triangular", (3, 4, 5), k=k), {"x": x})["out"]
    upper = run(one_input("add_upper_triangular", (3, 4, 5), k=k), {"x": x})["out"]
    np.testing.assert_array_equal(lower, np.tril(x, k))
    np.testing.assert_array_equal(upper, np.triu(x, k))


def test_band_kinds_zero_infinities_outside_the_band_and_refuse_rank_1():
    x = np.array([[[1.0, np.inf], [np.nan, 2.0]]])
    np.testing.assert_array_equal(
        run(one_input("add_lower_triangular", (2, 2)), {"x": x})["out"],
        [[[1.0, 0.0], [np.nan, 2.0]]],
    )
    with pytest.raises(
        ShapeError,
        match=r"layer 'l' \(upperTriangular\): reads a tensor of "
        r"shape \[4\]; the layer needs rank 2 or more",
    ):
        compile_network(one_input("add_upper_triangular", (4,)))


# ---- cumSum --------------------------------------------------------------------------------


def cumsum_reference(x, axis, exclusive, reverse):
    if reverse:
        x = np.flip(x, axis)
    y = np.cumsum(x, axis=axis)
    if exclusive:
        y = y - x
    return np.flip(y, axis) if reverse else y


@pytest.mark.parametrize("exclusive", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_cumsum_every_mode_and_axis(exclusive, reverse, seed):
    rng = np.random.default_rng(seed)
    shape = random_shape(rng)
    axis = int(rng.integers(-len(shape), len(shape)))
    x = integral(rng, (2, *shape))  # integers: the exclusive reference subtracts exactly
    spec = one_input("add_cumsum", shape, axis=axis, reverse=reverse, exclusive=exclusive)
    expected = cumsum_reference(x, axis + 1 if axis >= 0 else axis, exclusive, reverse)
    np.testing.assert_array_equal(run(spec, {"x": x})["out"], expected)


def test_cumsum_examples_of_the_proto():
    x = np.array([[4.0, 6.0, 7.0]])
    for exclusive, reverse, expected in [
        (False, False, [4, 10, 17]),
        (True, False, [0, 4, 10]),
        (False, True, [17, 13, 7]),
        (True, True, [13, 7, 0]),
    ]:
        spec = one_input("add_cumsum", (3,), axis=0, reverse=reverse, exclusive=exclusive)
        np.testing.assert_array_equal(run(spec, {"x": x})["out"], [expected])


def test_cumsum_reads_its_axis_from_a_constant_second_input():
    def add(b):
        b.add_load_constant_nd("k", "axis", np.array([1.0]), shape=(1,))
        b.add_cumsum("l", ["x", "axis"], "out", axis=0)

    x = np.random.default_rng(3).standard_normal((2, 3, 4))
    np.testing.assert_allclose(
        run(network({"x": (3, 4)}, add), {"x": x})["out"], np.cumsum(x, axis=2), rtol=1e-12
    )


# ---- layerNormalization --------------------------------------------------------------------


def layer_norm_reference(x, count, gamma, beta, eps):
    axes = tuple(range(x.ndim - count, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


@pytest.mark.parametrize("seed", range(6))
def test_layer_normalization_over_the_trailing_axes(seed):
    rng = np.random.default_rng(seed)
    shape = random_shape(rng, 1, 5, 5)
    count = int(rng.integers(1, len(shape) + 1))
    normalized = shape[len(shape) - count :]
    gamma, beta = rng.standard_normal(normalized), rng.standard_normal(normalized)
    eps = float(rng.choice([1e-5, 1e-3, 0.5]))
    spec = one_input(
        "add_layer_normalization",
        shape,
        normalized_shape=normalized,
        gamma=gamma,
        beta=beta,
        eps=eps,
    )
    x = 3 * rng.standard_normal((3, *shape)) + 1
    g32, b32 = gamma.astype(np.float32), beta.astype(np.float32)  # weights are stored float32
    expected = layer_norm_reference(x, count, g32, b32, np.float32(eps))
    np.testing.assert_allclose(run(spec, {"x": x})["out"], expected, rtol=1e-10, atol=1e-12)


@needs("torch")
def test_layer_normalization_matches_torch_layer_norm():
    rng = np.random.default_rng(4)
    gamma, beta = rng.standard_normal((6, 8)), rng.standard_normal((6, 8))
    spec = one_input(
        "add_layer_normalization",
        (2, 6, 8),
        normalized_shape=(6, 8),
        gamma=gamma,
        beta=beta,
        eps=1e-5,
    )
    x = rng.standard_normal((3, 2, 6, 8)).astype(np.float32)
    norm = torch.nn.LayerNorm((6, 8), eps=1e-5)
    with torch.no_grad():
        norm.weight.copy_(torch.from_numpy(gamma.astype(np.float32)))
        norm.bias.copy_(torch.from_numpy(beta.astype(np.float32)))
        expected = norm(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(run(spec, {"x": x})["out"], expected, rtol=1e-5, atol=1e-5)


def test_layer_normalization_refusals():
    ones = np.ones(4)
    spec = one_input(
        "add_layer_normalization", (3, 4), normalized_shape=(4,), gamma=ones, beta=ones
    )
    spec.neuralNetwork.layers[0].layerNormalization.normalizedShape[:] = [3]
    with pytest.raises(
        ShapeError,
        match=r"layer 'l' \(layerNormalization\): normalizedShape "
        r"\[3\] must equal the last axes of the input of shape "
        r"\[3, 4\]",
    ):
        compile_network(spec)
    spec.neuralNetwork.layers[0].layerNormalization.normalizedShape[:] = [4]
    del spec.neuralNetwork.layers[0].layerNormalization.beta.floatValue[:]
    with pytest.raises(ShapeError, match=r"\(layerNormalization\): beta has 0 values; expected 4"):
        compile_network(spec)


# ---- the legacy unary and clip layers on the ranks converters feed them ----------------------

UNARY_LEGACY = {  # builder mode -> the proto's formula after x <- scale * x + shift
    "sqrt": lambda x, a, e: np.sqrt(x),
    "rsqrt": lambda x, a, e: 1 / np.sqrt(x + e),
    "inverse": lambda x, a, e: 1 / (x + e),
    "power": lambda x, a, e: x**a,
    "exp": lambda x, a, e: np.exp(x),
    "log": lambda x, a, e: np.log(x + e),
    "abs": lambda x, a, e: np.abs(x),
    "threshold": lambda x, a, e: np.maximum(x, a),
}


@pytest.mark.parametrize("mode", sorted(UNARY_LEGACY))
@pytest.mark.parametrize("shape", [(5,), (2, 3), (1, 3, 2, 2)])
def test_legacy_unary_runs_every_operation_on_any_rank(mode, shape):
    rng = np.random.default_rng(len(shape))
    alpha, shift, scale, epsilon = 1.5, 0.25, 2.0, 1e-3
    spec = one_input(
        "add_unary", shape, mode=mode, alpha=alpha, shift=shift, scale=scale, epsilon=epsilon
    )
    x = rng.uniform(0.1, 2.0, (3, *shape))
    f32 = [np.float32(v) for v in (alpha, shift, scale, epsilon)]  # float32 fields
    expected = UNARY_LEGACY[mode](f32[2] * x + f32[1], f32[0], f32[3])
    np.testing.assert_allclose(run(spec, {"x": x})["out"], expected, rtol=1e-10)


@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 4, 5)])
def test_clip_runs_on_any_rank(shape):
    x = np.random.default_rng(0).uniform(-8, 8, (2, *shape))
    spec = one_input("add_clip", shape, min_value=0.0, max_value=6.0)
    np.testing.assert_array_equal(run(spec, {"x": x})["out"], np.clip(x, 0, 6))
