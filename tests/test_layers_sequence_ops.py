"""embedding, embeddingND, sequenceRepeat and reverseSeq against numpy (and torch's
``nn.Embedding``) over randomized shapes, in the layouts the compiler gives them, with their
edge cases and refusals.
"""

from __future__ import annotations

import numpy as np
import pytest

from runtime.nn.graph import compile_network
from runtime.nn.layers import CHW, ND
from tests.layer_networks import network as rank5_network
from tests.nd_networks import network, run
from tests.optional import needs, optional_import
from updatable.errors import FeatureError, ShapeError

torch = optional_import("torch")


def table(rng, vocabulary, size):
    return rng.standard_normal((size, vocabulary)).astype(np.float32).astype(np.float64)


# ---- embeddingND ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(8))
def test_embedding_nd_looks_up_columns_for_every_rank(seed):
    rng = np.random.default_rng(seed)
    rank = int(rng.integers(2, 6))
    shape = (*(int(d) for d in rng.integers(1, 4, size=rank - 1)), 1)
    vocabulary, size = int(rng.integers(1, 9)), int(rng.integers(1, 6))
    weights = table(rng, vocabulary, size)
    bias = rng.standard_normal(size).astype(np.float32).astype(np.float64) if seed % 2 else None
    spec = network(
        {"ids": shape},
        lambda b: b.add_embedding_nd("embed", "ids", "out", vocabulary, size, weights, bias),
    )
    ids = rng.integers(0, vocabulary, size=(3, *shape)).astype(np.float64)
    expected = weights.T[ids[..., 0].astype(int)] + (0 if bias is None else bias)
    got = run(spec, {"ids": ids})["out"]
    assert got.shape == (3, *shape[:-1], size)
    np.testing.assert_array_equal(got, expected)


@needs("torch")
def test_embedding_nd_matches_torch_embedding():
    rng = np.random.default_rng(1)
    module = torch.nn.Embedding(50, 16)
    weights = module.weight.detach().numpy().T.astype(np.float64)  # [embeddingSize, vocab]
    spec = network(
        {"ids": (1, 12, 1)}, lambda b: b.add_embedding_nd("embed", "ids", "out", 50, 16, weights)
    )
    tokens = rng.integers(0, 50, size=(4, 12))
    got = run(spec, {"ids": tokens.reshape(4, 1, 12, 1).astype(np.float32)})["out"]
    np.testing.assert_array_equal(
        got.reshape(4, 12, 16), module(torch.tensor(tokens)).detach().numpy()
    )


def test_embedding_ids_are_truncated_and_out_of_range_ids_refused():
    """Float ids are truncated towards zero (3.7 reads row 3); an id outside [0, vocab - 1]
    or NaN is refused at run time, naming the layer and the value."""
    weights = np.arange(12.0).reshape(3, 4)  # column k is [k, 4 + k, 8 + k]
    spec = network(
        {"ids": (5, 1)}, lambda b: b.add_embedding_nd("embed", "ids", "out", 4, 3, weights)
    )
    ids = np.array([0.0, 3.7, 2.2, -0.5, 1.999]).reshape(1, 5, 1)
    np.testing.assert_array_equal(run(spec, {"ids": ids})["out"][0], weights.T[[0, 3, 2, 0, 1]])
    for bad in (4.0, -1.0, np.nan):
        with pytest.raises(
            FeatureError,
            match=r"layer 'embed' \(embeddingND\): input value "
            r".* is not an index of the table; expected "
            r"integers in \[0, 3\]",
        ):
            run(spec, {"ids": np.full((2, 5, 1), bad)})


def test_embedding_nd_refuses_an_input_whose_last_axis_is_not_1():
    spec = network(
        {"ids": (5, 2)}, lambda b: b.add_embedding_nd("embed", "ids", "out", 4, 3, np.zeros((3, 4)))
    )
    with pytest.raises(
        ShapeError,
        match=r"layer 'embed' \(embeddingND\): the input must have "
        r"rank 2 to 5 and a last axis of size 1; got \[5, 2\]",
    ):
        compile_network(spec)
    spec = network(
        {"ids": (5, 1)}, lambda b: b.add_embedding_nd("embed", "ids", "out", 4, 3, np.zeros((3, 3)))
    )
    with pytest.raises(ShapeError, match="weights has 9 values; expected 12"):
        compile_network(spec)


# ---- embedding (rank 4 / 5) ----------------------------------------------------------------


@pytest.mark.parametrize("has_bias", [False, True])
def test_embedding_in_a_rank_5_network(has_bias):
    """A Keras Embedding's layer: the ids [1] of a rank-5 network are [1, 1, 1, 1, 1]; the
    vectors land on the channel axis."""
    rng = np.random.default_rng(2)
    weights, bias = table(rng, 10, 4), rng.standard_normal(4).astype(np.float32)
    spec = rank5_network(
        {"ids": [1, 1, 1]},
        lambda b: b.add_embedding(
            "embed", weights, bias if has_bias else None, 10, 4, has_bias, "ids", "out"
        ),
    )
    assert compile_network(spec).tensors["ids"].shape == (1, 1, 1, 1, 1)
    ids = rng.integers(0, 10, size=(6, 1, 1, 1, 1, 1)).astype(np.float64)
    got = run(spec, {"ids": ids})["out"]
    expected = weights.T[ids.reshape(6).astype(int)] + (bias if has_bias else 0)
    np.testing.assert_array_equal(got.reshape(6, 4), expected)


@pytest.mark.parametrize("shape", [(5, 1, 1, 1), (3, 2, 1, 1, 1)])
def test_embedding_keeps_the_rank_of_n_d_inputs(shape):
    rng = np.random.default_rng(3)
    weights = table(rng, 7, 2)
    spec = network(
        {"ids": shape}, lambda b: b.add_embedding("embed", weights, None, 7, 2, False, "ids", "out")
    )
    ids = rng.integers(0, 7, size=(2, *shape)).astype(np.float64)
    got = run(spec, {"ids": ids})["out"]
    expected = weights.T[ids.reshape(2, *shape[:-3]).astype(int)]
    np.testing.assert_array_equal(got, expected.reshape(2, *shape[:-3], 2, 1, 1))


def test_embedding_refuses_other_ranks():
    spec = network(
        {"ids": (5, 1, 1)},
        lambda b: b.add_embedding("embed", np.zeros((2, 7)), None, 7, 2, False, "ids", "out"),
    )
    with pytest.raises(
        ShapeError,
        match=r"layer 'embed' \(embedding\): the input must have "
        r"rank 4 \(x1, 1, 1, 1\) or rank 5",
    ):
        compile_network(spec)


# ---- sequenceRepeat ------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_sequence_repeat_tiles_the_sequence_axis_in_either_layout(seed):
    rng = np.random.default_rng(seed)
    shape = tuple(int(d) for d in rng.integers(1, 4, size=5 + seed % 2))
    repetitions = int(rng.integers(0, 4))  # 0 means 1
    x = rng.standard_normal((2, *shape))
    axis = len(shape) - 5 + 1
    expected = np.concatenate([x] * max(repetitions, 1), axis=axis)
    for layout in (ND, CHW):  # the input as it comes (nd), or after a chw-only identity

        def add(b, layout=layout):
            source = "x"
            if layout == CHW:
                b.add_pooling("same", 1, 1, 1, 1, "MAX", "VALID", "x", "x_chw")
                source = "x_chw"
            b.add_sequence_repeat("repeat", repetitions, source, "out")

        spec = network({"x": shape}, add)
        assert compile_network(spec).tensors["out"].layout == layout
        np.testing.assert_array_equal(run(spec, {"x": x})["out"], expected)


def test_sequence_repeat_runs_chw_in_a_rank_5_network():
    """A rank-5 network's blobs are chw; the layer tiles their folded rows without a
    relayout, [x_1, x_2, x_1, x_2]."""
    spec = rank5_network({"x": [2, 3, 4]}, lambda b: b.add_sequence_repeat("rep", 2, "x", "out"))
    net = compile_network(spec)
    assert [s.kind.oneof for s in net.steps] == ["sequenceRepeat"]
    assert net.tensors["out"].layout == CHW and net.tensors["out"].shape == (2, 1, 2, 3, 4)
    x = np.random.default_rng(0).standard_normal((3, 3, 4, 2))
    got = net.run({"x": x})["out"]
    np.testing.assert_array_equal(got.reshape(3, 2, 3, 4, 2), np.stack([x, x], axis=1))


def test_sequence_repeat_refuses_a_rank_below_5():
    spec = network({"x": (2, 3, 4, 5)}, lambda b: b.add_sequence_repeat("rep", 2, "x", "out"))
    with pytest.raises(
        ShapeError,
        match=r"layer 'rep' \(sequenceRepeat\): the input must have "
        r"rank 5 or more",
    ):
        compile_network(spec)
    assert (
        ND
        in compile_network(
            network({"x": (1, 2, 3, 1, 1)}, lambda b: b.add_sequence_repeat("rep", 2, "x", "out"))
        )
        .tensors["out"]
        .layout
    )


# ---- reverseSeq ----------------------------------------------------------------------------


def numpy_reverse_seq(x, lengths, batch_axis, seq_axis):
    """The proto's definition, slice by slice (x and lengths without the example axis)."""
    out = x.copy()
    for b, length in enumerate(lengths.astype(int)):
        source = np.take(x, b, axis=batch_axis)
        target = np.take(out, b, axis=batch_axis)  # a copy: written back below
        axis = seq_axis - 1 if seq_axis > batch_axis else seq_axis
        head = np.flip(np.take(source, range(length), axis=axis), axis=axis)
        index = [slice(None)] * source.ndim
        index[axis] = slice(0, length)
        target[tuple(index)] = head
        put = [slice(None)] * x.ndim
        put[batch_axis] = b
        out[tuple(put)] = target
    return out


def test_reverse_seq_matches_the_proto_examples():
    spec = network(
        {"x": (2, 4), "len": (2,)},
        lambda b: b.add_reverse_sequence("rev", ["x", "len"], "out", batch_axis=0, seq_axis=1),
    )
    x = np.arange(8.0).reshape(1, 2, 4)
    np.testing.assert_array_equal(
        run(spec, {"x": x, "len": np.array([[3.0, 0.0]])})["out"], [[[2, 1, 0, 3], [4, 5, 6, 7]]]
    )
    spec = network(
        {"x": (2, 3, 2), "len": (2,)},
        lambda b: b.add_reverse_sequence("rev", ["x", "len"], "out", batch_axis=0, seq_axis=1),
    )
    x = np.arange(12.0).reshape(1, 2, 3, 2)
    expected = [[[2, 3], [0, 1], [4, 5]], [[10, 11], [8, 9], [6, 7]]]
    np.testing.assert_array_equal(
        run(spec, {"x": x, "len": np.array([[2.0, 3.0]])})["out"], [expected]
    )


@pytest.mark.parametrize("seed", range(8))
def test_reverse_seq_over_random_axes(seed):
    rng = np.random.default_rng(seed)
    shape = tuple(int(d) for d in rng.integers(1, 5, size=int(rng.integers(2, 5))))
    batch_axis, seq_axis = sorted(rng.choice(len(shape), 2, replace=False))
    lengths = rng.integers(0, shape[seq_axis] + 1, size=(3, shape[batch_axis])).astype(float)
    negative = seed % 2  # count the sequence axis from the end
    spec = network(
        {"x": shape, "len": (shape[batch_axis],)},
        lambda b: b.add_reverse_sequence(
            "rev",
            ["x", "len"],
            "out",
            batch_axis=int(batch_axis),
            seq_axis=int(seq_axis - len(shape) if negative else seq_axis),
        ),
    )
    x = rng.standard_normal((3, *shape))
    got = run(spec, {"x": x, "len": lengths})["out"]
    for n in range(3):
        np.testing.assert_array_equal(
            got[n], numpy_reverse_seq(x[n], lengths[n], int(batch_axis), int(seq_axis))
        )


def test_reverse_seq_refusals():
    def spec_for(shape, lengths, batch_axis, seq_axis):
        return network(
            {"x": shape, "len": lengths},
            lambda b: b.add_reverse_sequence(
                "rev", ["x", "len"], "out", batch_axis=batch_axis, seq_axis=seq_axis
            ),
        )

    where = r"layer 'rev' \(reverseSeq\): "
    with pytest.raises(
        ShapeError,
        match=where + r"batchAxis \(1\) must come before "
        r"sequenceAxis \(0\)",
    ):
        compile_network(spec_for((2, 4), (4,), 1, 0))
    with pytest.raises(ShapeError, match=where + r"seq_lengths must have shape \[2\]"):
        compile_network(spec_for((2, 4), (4,), 0, 1))
    with pytest.raises(ShapeError, match=where + "sequenceAxis 2 is out of range"):
        compile_network(spec_for((2, 4), (2,), 0, 2))
    spec = spec_for((2, 4), (2,), 0, -1)
    with pytest.raises(
        FeatureError,
        match=where + r"sequence length 5.0 is not a length of the "
        r"sequence axis; expected integers in \[0, 4\]",
    ):
        run(spec, {"x": np.zeros((1, 2, 4)), "len": np.array([[1.0, 5.0]])})


# ---- reshape to a sequence (the legacy layer in front of recurrent layers) ---------------


def core_ml_reshape(x, target, channel_last):
    """NeuralNetwork.proto's reshape of ``x`` ``(N, Seq, 1, C, H, W)`` to ``[Seq', C', H',
    W']``: every step flattened (C, H, W order, or H, W, C for CHANNEL_LAST) and refilled."""
    n = x.shape[0]
    seq_out, c, h, w = target
    if not channel_last:
        return x.reshape(n, seq_out, 1, c, h, w)
    steps = x.transpose(0, 1, 2, 4, 5, 3).reshape(n, seq_out, h, w, c)
    return steps.transpose(0, 1, 4, 2, 3)[:, :, None]


@pytest.mark.parametrize("mode", [0, 1])
@pytest.mark.parametrize(
    ("shape", "target"),
    [
        ((1, 1, 8, 4, 2), (4, 16, 1, 1)),
        ((1, 1, 2, 3, 4), (3, 2, 2, 2)),
        ((2, 1, 3, 2, 2), (6, 2, 2, 1)),
        ((4, 1, 6, 1, 1), (1, 3, 2, 4)),
    ],
)
def test_reshape_to_a_new_sequence_length_in_either_layout(shape, target, mode):
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal((3, *shape))
    expected = core_ml_reshape(x, target, bool(mode))
    nd_spec = network({"x": shape}, lambda b: b.add_reshape("r", "x", "out", target, mode))
    assert compile_network(nd_spec).tensors["out"].layout == ND
    np.testing.assert_array_equal(run(nd_spec, {"x": x})["out"], expected)

    def chw_first(b):  # a chw-only kind first (a 1 x 1 max pooling: the identity)
        b.add_pooling("same", 1, 1, 1, 1, "MAX", "VALID", "x", "x_chw")
        b.add_reshape("r", "x_chw", "out", target, mode)

    chw_spec = network({"x": shape}, chw_first)
    net = compile_network(chw_spec)
    assert net.tensors["out"].layout == CHW and net.tensors["out"].shape == (
        target[0],
        1,
        *target[1:],
    )
    assert net.tensors["x_chw"].layout == CHW
    np.testing.assert_array_equal(run(chw_spec, {"x": x})["out"], expected)
