"""Tensor-shaped layer kinds that move values (reshapes, ...) against numpy on the Core ML
tensor, over randomized shapes with a fixed seed, and their refusals.

Networks are written by coremltools' builder with ``EXACT_ARRAY_MAPPING``
(``tests.nd_networks``) and run in float64; the expected values are numpy expressions on the
``(N, *shape)`` input.
"""

from __future__ import annotations

import numpy as np
import pytest

from runtime.nn.graph import compile_network
from tests.nd_networks import network, run
from updatable.errors import ShapeError


def random_shape(rng, low_rank=1, high_rank=5, high=4):
    return tuple(int(d) for d in rng.integers(1, high + 1, size=int(rng.integers(low_rank,
                                                                                 high_rank + 1))))


def factor(rng, size: int, rank: int) -> list[int]:
    """A random shape of ``rank`` axes holding ``size`` values."""
    dims = [1] * rank
    for prime in (2, 3, 5, 7):
        while size % prime == 0:
            size //= prime
            dims[int(rng.integers(rank))] *= prime
    dims[int(rng.integers(rank))] *= size
    return dims


# ---- reshapeStatic -------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(10))
def test_reshape_static_is_numpy_reshape_of_the_core_ml_tensor(seed):
    rng = np.random.default_rng(seed)
    shape = random_shape(rng)
    target = factor(rng, int(np.prod(shape)), int(rng.integers(1, 6)))
    written = list(target)
    if seed % 3 == 0:
        written[int(rng.integers(len(written)))] = -1  # the size the others leave
    spec = network({"x": shape}, lambda b: b.add_reshape_static("r", "x", "out", written))
    x = rng.standard_normal((3, *shape))
    out = run(spec, {"x": x})["out"]
    assert out.shape == (3, *target)
    np.testing.assert_array_equal(out, x.reshape(3, *target))


def test_reshape_static_after_a_rank_5_layer_flattens_channel_first_like_torch():
    """conv output [1, 2, 3, 3] (held chw) -> [1, 18]: torch.flatten order, C then H then W."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((2, 1, 1, 1))

    def layers(b):
        b.add_convolution("conv", 1, 2, 1, 1, 1, 1, "valid", 1, W=w.transpose(2, 3, 1, 0),
                          b=None, has_bias=False, input_name="x", output_name="c")
        b.add_reshape_static("flat", "c", "out", [1, 18])

    spec = network({"x": (1, 1, 3, 3)}, layers)
    x = rng.standard_normal((2, 1, 1, 3, 3))
    stored = w.astype(np.float32).astype(np.float64)  # the builder writes float32 weights
    expected = (stored.reshape(1, 2, 1, 1) * x[:, 0]).reshape(2, 1, 18)
    np.testing.assert_allclose(run(spec, {"x": x})["out"], expected, rtol=1e-12)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ([5, 3], r"cannot reshape a tensor of shape \[2, 6\] \(12 values\) into targetShape "
                 r"\[5, 3\] \(15 values\)"),
        ([0, 12], r"targetShape \[0, 12\] must hold positive sizes"),
        ([-1, -1, 3], r"targetShape \[-1, -1, 3\] must hold positive sizes"),
        ([-1, 5], r"cannot reshape a tensor of shape \[2, 6\]"),
        ([], r"targetShape is empty"),
    ],
)
def test_reshape_static_refuses_a_target_that_cannot_hold_the_input(target, message):
    spec = network({"x": (2, 6)}, lambda b: b.add_reshape_static("r", "x", "out", target))
    with pytest.raises(ShapeError, match=r"layer 'r' \(reshapeStatic\): " + message):
        compile_network(spec)
