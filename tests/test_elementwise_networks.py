"""Networks of elementwise-family layers, written by coremltools' NeuralNetworkBuilder, that load
and predict through ``runtime.Model`` (float32, as a device runs them): each chains several
kinds and is checked against the same computation in numpy (float64). Also the legacy
``l2normalize`` and ``lrn`` layers on the N-D tensors of spec-4 networks (a batch axis and
leading axes), and the random kinds' reproducibility through ``predict``.
"""

from __future__ import annotations

import numpy as np
from coremltools.models import datatypes
from coremltools.models.neural_network import NeuralNetworkBuilder

import runtime

RTOL = 2e-5  # float32 network vs float64 numpy


def load(inputs: dict, add, outputs=("out",)) -> runtime.Model:
    builder = NeuralNetworkBuilder(
        [(name, datatypes.Array(*shape)) for name, shape in inputs.items()],
        [(name, None) for name in outputs],
        disable_rank5_shape_mapping=True,
    )
    add(builder)
    return runtime.Model.load(builder.spec)


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def test_causal_attention_weights_from_band_where_and_comparisons():
    """Scores (4, 6, 6): a causal mask from ``lowerTriangular`` of ones, a padding mask from
    ``lessThan`` on positions, both combined with ``logicalAnd``; masked scores set by
    ``whereBroadcastable``; ``softmaxND`` over the keys."""

    def add(b):
        b.add_fill_like("ones", "scores", "ones", value=1.0)
        b.add_lower_triangular("causal", "ones", "causal", k=0)
        b.add_range_static("positions", "positions", end=6, start=0, step=1)
        b.add_less_than("visible", ["positions", "length"], "visible")
        b.add_logical("both", ["causal", "visible"], "mask", "AND")
        b.add_fill_like("minus", "scores", "minus", value=-1e4)
        b.add_where_broadcastable("masked", ["mask", "scores", "minus"], "masked")
        b.add_softmax_nd("softmax", "masked", "out", axis=-1)

    model = load({"scores": (4, 6, 6), "length": (1,)}, add)
    rng = np.random.default_rng(0)
    for length in (1, 4, 6):
        scores = rng.standard_normal((4, 6, 6)).astype(np.float32)
        got = model.predict({"scores": scores, "length": np.array([length], np.float32)})["out"]
        mask = np.tril(np.ones((6, 6), bool)) & (np.arange(6) < length)
        expected = softmax(np.where(mask, scores.astype(np.float64), -1e4))
        np.testing.assert_allclose(got, expected, rtol=RTOL, atol=1e-7)


def test_lookup_accumulate_and_rank_chain():
    """Rows of a table gathered at ids, scattered (ADD) into a histogram of rows, running sums,
    top 2 per row and their one-hot encoding."""

    def add(b):
        b.add_gather("lookup", ["table", "ids"], "rows", axis=0)  # (4, 3)
        b.add_fill_static("zeros", "zeros", output_shape=(5, 3), value=0.0)
        b.add_scatter("histogram", ["zeros", "ids", "rows"], "counts", axis=0, mode="ADD")
        b.add_cumsum("running", ["counts"], "running", axis=0)
        b.add_topk("best", ["running"], ["best", "where"], k=2, axis=-1)
        b.add_one_hot("hot", ["where"], "out", one_hot_vector_size=3, axis=-1)

    model = load({"table": (5, 3), "ids": (4,)}, add, outputs=("best", "out"))
    rng = np.random.default_rng(1)
    for _ in range(3):
        table = rng.standard_normal((5, 3)).astype(np.float32)
        ids = rng.integers(-5, 5, 4).astype(np.float32)
        got = model.predict({"table": table, "ids": ids})
        rows = table[ids.astype(int)].astype(np.float64)
        counts = np.zeros((5, 3))
        np.add.at(counts, ids.astype(int), rows)
        running = np.cumsum(counts, axis=0)
        order = np.argsort(-running, axis=-1, kind="stable")[:, :2]
        np.testing.assert_allclose(
            got["best"], np.take_along_axis(running, order, -1), rtol=RTOL, atol=1e-6
        )
        np.testing.assert_array_equal(got["out"], np.eye(3)[order])


def test_layer_norm_and_pointwise_chain():
    """layerNormalization over the last two axes, clampedReLU, round of a scaled copy through
    exp2 and sin, sign, and the 0/1 result of greaterEqual."""
    rng = np.random.default_rng(2)
    gamma, beta = rng.uniform(0.5, 1.5, (3, 5)), rng.normal(0, 0.1, (3, 5))

    def add(b):
        b.add_layer_normalization("norm", "x", "norm", [3, 5], gamma=gamma, beta=beta, eps=1e-5)
        b.add_clamped_relu("clamp", "norm", "clamped", alpha=0.1, beta=1.5)
        b.add_exp2("exp2", "clamped", "powers")
        b.add_sin("sin", "powers", "waves")
        b.add_sign("sign", "waves", "signs")
        b.add_greater_than("ge", ["signs", "clamped"], "out", use_greater_than_equal=True)

    model = load({"x": (2, 3, 5)}, add)
    x = (3 * rng.standard_normal((2, 3, 5)) + 1).astype(np.float32)
    mean = x.mean(axis=(1, 2), keepdims=True, dtype=np.float64)
    var = ((x - mean) ** 2).mean(axis=(1, 2), keepdims=True)
    norm = gamma.astype(np.float32) * (x - mean) / np.sqrt(var + 1e-5) + beta.astype(np.float32)
    clamped = np.minimum(np.float32(1.5), np.where(norm >= 0, norm, np.float32(0.1) * norm))
    signs = np.sign(np.sin(2.0**clamped))
    expected = (signs >= clamped).astype(np.float64)
    got = model.predict({"x": x})["out"]
    close = np.isclose(signs, clamped, atol=1e-4)  # float32 may flip a near tie
    np.testing.assert_array_equal(got[~close], expected[~close])


def test_legacy_l2normalize_and_lrn_on_n_d_tensors():
    """Both normalise the last three axes [C, H, W] (lrn across C) and treat every leading
    axis as batch: a rank-5 (2, 3, 4, 3, 3) tensor runs as 6 images."""

    def add(b):
        b.add_l2_normalize("l2", "x", "normed", epsilon=1e-6)
        b.add_lrn("lrn", "normed", "out", alpha=0.5, beta=0.75, local_size=3, k=2.0)

    model = load({"x": (2, 3, 4, 3, 3)}, add, outputs=("normed", "out"))
    x = np.random.default_rng(3).standard_normal((2, 3, 4, 3, 3)).astype(np.float32)
    got = model.predict({"x": x})
    x64 = x.astype(np.float64)
    normed = x64 / np.sqrt((x64**2).sum(axis=(2, 3, 4), keepdims=True) + 1e-6)
    squares = np.pad(normed**2, [(0, 0), (0, 0), (1, 1), (0, 0), (0, 0)])
    window = squares[:, :, :-2] + squares[:, :, 1:-1] + squares[:, :, 2:]
    expected = normed / (2.0 + 0.5 / 3 * window) ** 0.75
    np.testing.assert_allclose(got["normed"], normed, rtol=RTOL, atol=1e-7)
    np.testing.assert_allclose(got["out"], expected, rtol=RTOL, atol=1e-7)


def test_seeded_random_layers_give_the_same_prediction_every_time():
    def add(b):
        b.add_random_normal_like("noise", "x", "noise", mean=0.0, stddev=0.1, seed=3)
        b.add_random_bernoulli_like("keep", "x", "keep", prob=0.8, seed=4)
        b.add_where_broadcastable("dropout", ["keep", "x", "noise"], "out")

    model = load({"x": (3, 4)}, add)
    x = np.ones((3, 4), np.float32)
    first, second = (model.predict({"x": x})["out"] for _ in range(2))
    np.testing.assert_array_equal(first, second)
    keep = np.random.default_rng(4).random((3, 4)) < np.float32(0.8)
    noise = np.random.default_rng(3).normal(0.0, np.float32(0.1), (3, 4))
    np.testing.assert_allclose(first, np.where(keep, 1.0, noise), rtol=1e-6)
    batch = model.predict_batch([{"x": x}, {"x": 2 * x}])
    np.testing.assert_allclose(batch[1]["out"], np.where(keep, 2.0, noise), rtol=1e-6)


def test_unary_math_between_convolutions_stays_channels_last():
    """sin and clampedReLU run in either layout: between two convolutions the tensor stays
    ``chw`` (no relayout step), and the values are the elementwise math of the first
    convolution's output."""
    rng = np.random.default_rng(5)
    w = rng.standard_normal((3, 3, 2, 4))

    def add(b):
        b.add_convolution(
            "c1", 2, 4, 3, 3, 1, 1, "same", 1, w, None, False, input_name="x", output_name="a"
        )
        b.add_sin("s", "a", "b")
        b.add_clamped_relu("r", "b", "c", alpha=0.1, beta=0.5)
        b.add_convolution(
            "c2",
            4,
            1,
            1,
            1,
            1,
            1,
            "valid",
            1,
            np.ones((1, 1, 4, 1)),
            None,
            False,
            input_name="c",
            output_name="out",
        )

    model = load({"x": (1, 2, 5, 5)}, add, outputs=("a", "out"))
    kinds = [step.kind.oneof for step in model.engine.network.steps]
    assert kinds == ["convolution", "sin", "clampedReLU", "convolution"], kinds
    got = model.predict({"x": rng.standard_normal((1, 2, 5, 5)).astype(np.float32)})
    waves = np.sin(got["a"].astype(np.float64))
    clamped = np.minimum(0.5, np.where(waves >= 0, waves, np.float32(0.1) * waves))
    np.testing.assert_allclose(
        got["out"].reshape(5, 5), clamped.sum(axis=-3).reshape(5, 5), rtol=1e-5, atol=1e-6
    )
