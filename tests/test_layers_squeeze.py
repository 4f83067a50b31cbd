"""squeeze and expandDims (Core ML 3 rank-changing layers) and the ranks the graph tracks.

Networks come from coremltools' builder with N-D array mapping (``EXACT_ARRAY_MAPPING``: a
multiArray input is a tensor of its declared rank), which Core ML requires of a network with
array inputs and these layers; each model passes the validator. Expected values are numpy
reshapes of the input in Core ML's element order, the one thing these layers never change.
"""

from __future__ import annotations

import numpy as np
import pytest
from coremltools.models import datatypes
from coremltools.models.neural_network import NeuralNetworkBuilder

import runtime
import updatable
from runtime.nn.graph import compile_network
from updatable.errors import ShapeError


def nd_network(shape, add, output_shape=None):
    """Input ``x`` of ``shape``, layers from ``add(builder)``, output ``out``."""
    builder = NeuralNetworkBuilder(
        [("x", datatypes.Array(*shape))],
        [("out", datatypes.Array(*output_shape) if output_shape else None)],
        disable_rank5_shape_mapping=True,
    )
    add(builder)
    return builder.spec


def _squeeze(axes=None, squeeze_all=False):
    return lambda b: b.add_squeeze("sq", "x", "out", axes=axes, squeeze_all=squeeze_all)


def _expand(axes):
    return lambda b: b.add_expand_dims("ex", "x", "out", axes=axes)


def _run(spec, x):
    """The model's ``out`` for the batch ``x``, in Core ML order per example."""
    net = compile_network(spec)
    feeds = runtime.Model.load(spec).engine.to_blobs({"x": x})
    blob = net.run(feeds, outputs=["out"])["out"]
    return blob.transpose(0, 3, 1, 2).reshape(len(x), -1)


@pytest.mark.parametrize(
    ("shape", "add", "rank", "out_chw"),
    [
        # [1, 4, 1, 1] -> [1, 4]: the channels become the width axis of a rank-2 tensor
        ((1, 4, 1, 1), _squeeze(axes=[-1, -2]), 2, (1, 1, 4)),
        ((1, 4, 1, 1), _squeeze(axes=[2, 3]), 2, (1, 1, 4)),
        # the leading batch axis: only the rank changes
        ((1, 2, 3, 4), _squeeze(axes=[0]), 3, (2, 3, 4)),
        # [2, 3, 1] -> [2, 3]: the values move from (C, H) to (H, W)
        ((2, 3, 1), _squeeze(axes=[-1]), 2, (1, 2, 3)),
        ((3, 1, 5), _squeeze(squeeze_all=True), 2, (1, 3, 5)),
        ((1, 1, 1), _squeeze(squeeze_all=True), 1, (1, 1, 1)),
        # expandDims counts axes over the output's rank
        ((2, 3, 4), _expand(axes=[0]), 4, (2, 3, 4)),
        ((6,), _expand(axes=[-1]), 2, (1, 6, 1)),
        ((6,), _expand(axes=[0, 2]), 3, (1, 6, 1)),
        # [2, 3] -> [2, 3, 1]: the values move from (H, W) to (C, H)
        ((2, 3), _expand(axes=[-1]), 3, (2, 3, 1)),
    ],
)
def test_rank_and_shape_follow_core_ml_axes_and_values_keep_their_order(shape, add, rank, out_chw):
    spec = nd_network(shape, add)
    assert not updatable.validate(spec), updatable.validate(spec)
    net = compile_network(spec)
    assert net.ranks["x"] == len(shape) and net.ranks["out"] == rank
    assert net.shapes["out"] == (out_chw[1], out_chw[2], out_chw[0])
    x = np.random.default_rng(rank).standard_normal((3, *shape)).astype(np.float32)
    np.testing.assert_array_equal(_run(spec, x), x.reshape(3, -1))


def test_a_squeeze_then_expand_round_trip_feeds_the_rank_3_layers_again():
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

    spec = nd_network((1, 4, 1, 1), layers, output_shape=(1, 3, 1, 1))
    assert not updatable.validate(spec), updatable.validate(spec)
    net = compile_network(spec)
    assert [net.ranks[n] for n in ("x", "s", "e", "r", "out")] == [4, 2, 4, 4, 4]
    x = rng.standard_normal((2, 1, 4, 1, 1)).astype(np.float32)
    w32, b32 = w.astype(np.float32), b.astype(np.float32)  # as the builder stores them
    expected = np.maximum(x.reshape(2, 4), 0) @ w32.T + b32
    out = runtime.Model.load(spec).predict_batch([{"x": example} for example in x])
    np.testing.assert_allclose(np.stack([o["out"] for o in out]).reshape(2, 3), expected, rtol=1e-6)


def test_rank_5_layers_cannot_read_a_rank_below_3_and_bad_axes_are_refused():
    def reads_rank_2(builder):
        builder.add_squeeze("sq", "x", "s", squeeze_all=True)
        builder.add_activation("relu", "RELU", "s", "out")

    with pytest.raises(ShapeError, match=r"layer 'relu' \(activation\) reads blob 's' of rank 2"):
        compile_network(nd_network((3, 1, 5), reads_rank_2))
    with pytest.raises(ShapeError, match=r"cannot squeeze axis 2 .*its size is 5, not 1"):
        compile_network(nd_network((3, 1, 5), _squeeze(axes=[2])))
    with pytest.raises(ShapeError, match=r"axes \[3\] must be distinct and within \[-3, 2\]"):
        compile_network(nd_network((3, 1, 5), _squeeze(axes=[3])))
    with pytest.raises(ShapeError, match=r"axes \[-2, 1\] must be distinct"):
        compile_network(nd_network((3, 1, 5), _squeeze(axes=[-2, 1])))
    with pytest.raises(ShapeError, match=r"axes \[5\] must be distinct and within \[-4, 3\]"):
        compile_network(nd_network((3, 1, 5), _expand(axes=[5])))
    # [3, 1, 5] plus a trailing axis: the 3 would land in front of [C, H, W]
    with pytest.raises(ShapeError, match="axis larger than 1 before its last three"):
        compile_network(nd_network((3, 1, 5), _expand(axes=[-1])))
    with pytest.raises(ShapeError, match=r"input 'x': multiArray shape \[2, 3, 4, 5\] has an"):
        compile_network(nd_network((2, 3, 4, 5), _squeeze(squeeze_all=True)))


def test_a_model_with_squeeze_predicts_through_the_public_api():
    """Declared output [4]: the rank-1 blob comes back as four values."""
    spec = nd_network((4, 1, 1), _squeeze(axes=[-1, -2]), output_shape=(4,))
    x = np.arange(4, dtype=np.float32).reshape(4, 1, 1)
    prediction = runtime.Model.load(spec).predict({"x": x})
    np.testing.assert_array_equal(prediction["out"], np.arange(4, dtype=np.float32))
