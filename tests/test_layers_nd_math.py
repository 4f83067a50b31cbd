"""Tensor-shaped layer kinds that compute (softmaxND, ...) against numpy in float64 on the Core
ML tensor, over randomized shapes and axes (negative ones included) with a fixed seed, and
their refusals.
"""

from __future__ import annotations

import numpy as np
import pytest

from runtime.nn.graph import compile_network
from tests.layer_networks import network as rank5_network
from tests.nd_networks import network, run
from updatable.errors import ShapeError


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
    np.testing.assert_array_equal(run(nd, {"x": x.reshape(4, 1, 7)})["out"].reshape(4, 7),
                                  legacy.reshape(4, 7))


def test_softmax_nd_refuses_an_axis_out_of_range():
    spec = network({"x": (2, 3)}, lambda b: b.add_softmax_nd("s", "x", "out", axis=2))
    with pytest.raises(ShapeError, match=r"layer 's' \(softmaxND\): axis 2 is out of range for "
                                         r"a tensor of rank 2; expected a value in \[-2, 1\]"):
        compile_network(spec)
