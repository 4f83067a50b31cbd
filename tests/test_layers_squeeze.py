"""squeeze and expandDims (Core ML 3 rank-changing layers) against numpy, and the blob tensors
the compiler records.

Networks come from coremltools' builder with N-D array mapping (``EXACT_ARRAY_MAPPING``: a
multiArray input is a tensor of its declared rank), which Core ML requires of a network with
array inputs and these layers; each model passes the validator. References are
``numpy.squeeze`` / ``numpy.expand_dims`` on the Core ML tensor.
"""

from __future__ import annotations

import numpy as np
import pytest

import runtime
import updatable
from runtime.nn.graph import compile_network
from tests.nd_networks import network, run
from updatable.errors import ShapeError


def _squeeze(axes=None, squeeze_all=False):
    return lambda b: b.add_squeeze("sq", "x", "out", axes=axes, squeeze_all=squeeze_all)


def _expand(axes):
    return lambda b: b.add_expand_dims("ex", "x", "out", axes=axes)


def _random_case(rng):
    """A shape of rank 1..5 with some axes of size 1, and a squeeze or expandDims of it."""
    rank = int(rng.integers(1, 6))
    shape = tuple(int(d) for d in rng.choice([1, 1, 2, 3, 4], size=rank))
    if rng.random() < 0.5:
        ones = [i for i, d in enumerate(shape) if d == 1]
        if not ones or rng.random() < 0.2:
            expected = np.squeeze(np.zeros(shape)).shape or (1,)
            return shape, _squeeze(squeeze_all=True), expected
        chosen = [
            int(a)
            for a in rng.choice(ones, size=int(rng.integers(1, len(ones) + 1)), replace=False)
        ]
        axes = [a - rank if rng.random() < 0.5 else a for a in chosen]  # negative axes too
        expected = np.squeeze(np.zeros(shape), axis=tuple(chosen)).shape or (1,)
        return shape, _squeeze(axes=axes), expected
    count = int(rng.integers(1, 3))
    out_rank = rank + count
    chosen = sorted(int(a) for a in rng.choice(out_rank, size=count, replace=False))
    axes = [a - out_rank if rng.random() < 0.5 else a for a in chosen]
    expected = np.expand_dims(np.zeros(shape), axis=tuple(chosen)).shape
    return shape, _expand(axes), expected


@pytest.mark.parametrize("seed", range(12))
def test_shapes_follow_numpy_and_values_keep_their_order(seed):
    rng = np.random.default_rng(seed)
    shape, add, expected = _random_case(rng)
    spec = network({"x": shape}, add)
    assert not updatable.validate(spec), updatable.validate(spec)
    net = compile_network(spec)
    assert net.tensors["x"].shape == shape and net.tensors["out"].shape == expected
    x = rng.standard_normal((3, *shape))
    np.testing.assert_array_equal(run(spec, {"x": x})["out"], x.reshape(3, *expected))


@pytest.mark.parametrize(
    ("shape", "add", "expected"),
    [
        ((1, 4, 1, 1), _squeeze(axes=[-1, -2]), (1, 4)),
        ((1,), _squeeze(axes=[0]), (1,)),  # the proto's example: rank 1 stays rank 1
        ((1, 1, 1), _squeeze(squeeze_all=True), (1,)),
        ((10, 5), _expand(axes=[0, 2]), (1, 10, 1, 5)),  # the proto's examples
        ((10, 5), _expand(axes=[-2, -1]), (10, 5, 1, 1)),
        ((3, 1, 5), _expand(axes=[-1]), (3, 1, 5, 1)),  # leading axes larger than 1
    ],
)
def test_the_proto_examples(shape, add, expected):
    assert compile_network(network({"x": shape}, add)).tensors["out"].shape == expected


def test_a_squeeze_then_expand_round_trip_feeds_the_rank_5_layers_again():
    """[1, 4, 1, 1] -> squeeze H, W -> [1, 4] -> expand back -> ReLU -> innerProduct: the
    channel axis is back where the rank-5 layers read it; the declared output is [1, 3, 1, 1]."""
    rng = np.random.default_rng(0)
    w, b = rng.standard_normal((3, 4)), rng.standard_normal(3)

    def layers(builder):
        builder.add_squeeze("sq", "x", "s", axes=[-1, -2])
        builder.add_expand_dims("ex", "s", "e", axes=[-1, -2])
        builder.add_activation("relu", "RELU", "e", "r")
        builder.add_inner_product(
            "ip",
            W=w,
            b=b,
            input_channels=4,
            output_channels=3,
            has_bias=True,
            input_name="r",
            output_name="out",
        )

    spec = network({"x": (1, 4, 1, 1)}, layers)
    spec.description.output[0].type.multiArrayType.shape[:] = [1, 3, 1, 1]
    assert not updatable.validate(spec), updatable.validate(spec)
    net = compile_network(spec)
    ranks = [net.tensors[n].rank for n in ("x", "s", "e", "out")]
    assert ranks == [4, 2, 4, 4]
    x = rng.standard_normal((2, 1, 4, 1, 1)).astype(np.float32)
    w32, b32 = w.astype(np.float32), b.astype(np.float32)  # as the builder stores them
    expected = np.maximum(x.reshape(2, 4), 0) @ w32.T + b32
    out = runtime.Model.load(spec).predict_batch([{"x": example} for example in x])
    np.testing.assert_allclose(np.stack([o["out"] for o in out]).reshape(2, 3), expected, rtol=1e-6)


def test_bad_axes_are_refused_naming_the_layer():
    with pytest.raises(
        ShapeError,
        match=r"layer 'sq' \(squeeze\): cannot squeeze axis 2 .*its "
        r"size is 5, not 1",
    ):
        compile_network(network({"x": (3, 1, 5)}, _squeeze(axes=[2])))
    with pytest.raises(ShapeError, match=r"axes \[3\] must be distinct and within \[-3, 2\]"):
        compile_network(network({"x": (3, 1, 5)}, _squeeze(axes=[3])))
    with pytest.raises(ShapeError, match=r"axes \[-2, 1\] must be distinct"):
        compile_network(network({"x": (3, 1, 5)}, _squeeze(axes=[-2, 1])))
    with pytest.raises(
        ShapeError,
        match=r"layer 'ex' \(expandDims\): axes \[5\] must be "
        r"distinct and within \[-4, 3\]",
    ):
        compile_network(network({"x": (3, 1, 5)}, _expand(axes=[5])))


def test_a_rank_5_layer_cannot_read_a_rank_2_tensor():
    def pools_rank_2(builder):
        builder.add_squeeze("sq", "x", "s", squeeze_all=True)
        builder.add_pooling("pool", 2, 2, 1, 1, "MAX", "VALID", "s", "out")

    with pytest.raises(ShapeError, match=r"layer 'pool' \(pooling\) reads 's' of shape \[3, 5\]"):
        compile_network(network({"x": (3, 1, 5)}, pools_rank_2))


def test_a_model_with_squeeze_predicts_through_the_public_api():
    """Declared output [4]: the rank-1 blob comes back as four values."""
    spec = network({"x": (4, 1, 1)}, _squeeze(axes=[-1, -2]))
    spec.description.output[0].type.multiArrayType.shape[:] = [4]
    x = np.arange(4, dtype=np.float32).reshape(4, 1, 1)
    prediction = runtime.Model.load(spec).predict({"x": x})
    np.testing.assert_array_equal(prediction["out"], np.arange(4, dtype=np.float32))
