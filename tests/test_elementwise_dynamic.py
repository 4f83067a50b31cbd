"""Elementwise-family layers whose output shapes depend on the values of a model input
(whereNonZero of data, a range ending at a value of the input, topK / oneHot / cumSum / fill /
random kinds reading their parameters from an input) predict through ``runtime.Model``, which
compiles such networks per set of values (the core's ``runtime.nn.dynamic``).

Each network comes from coremltools' NeuralNetworkBuilder; references are numpy's.
"""

from __future__ import annotations

import numpy as np
import pytest
from coremltools.models import datatypes
from coremltools.models.neural_network import NeuralNetworkBuilder

import runtime
from updatable.errors import ShapeError


def model(inputs: dict, add, outputs=("out",)):
    """A ``runtime.Model`` of an EXACT_ARRAY_MAPPING network (outputs declared without shape)."""
    builder = NeuralNetworkBuilder(
        [(name, datatypes.Array(*shape)) for name, shape in inputs.items()],
        [(name, None) for name in outputs],
        disable_rank5_shape_mapping=True,
    )
    add(builder)
    return runtime.Model.load(builder.spec)


def positives(b):
    """``idx = argwhere(x > 0)``, ``out = x[x > 0]``."""
    b.add_greater_than("g", ["x"], "mask", alpha=0.0)
    b.add_where_nonzero("w", "mask", "idx")
    b.add_gather_nd("n", ["x", "idx"], "out")


def test_where_non_zero_of_data_runs_per_example_with_its_own_count():
    m = model({"x": (3, 4)}, positives, outputs=("idx", "out"))
    rng = np.random.default_rng(0)
    for _ in range(4):
        x = rng.standard_normal((3, 4)).astype(np.float32)
        got = m.predict({"x": x})
        np.testing.assert_array_equal(got["idx"], np.argwhere(x > 0))
        np.testing.assert_array_equal(got["out"], x[x > 0])


def test_a_batch_of_equal_counts_runs_together_and_matches_predict():
    m = model({"x": (3, 4)}, positives, outputs=("idx", "out"))
    rng = np.random.default_rng(1)
    base = rng.standard_normal((3, 4)).astype(np.float32)
    examples = [{"x": rng.permutation(base.reshape(-1)).reshape(3, 4)} for _ in range(5)]
    together = m.predict_batch(examples)
    for example, row in zip(examples, together, strict=True):
        alone = m.predict(example)
        np.testing.assert_array_equal(row["out"], alone["out"])
        np.testing.assert_array_equal(row["idx"], alone["idx"])


def test_a_batch_of_different_counts_is_refused():
    m = model({"x": (2, 2)}, positives)
    examples = [
        {"x": np.array([[1, -1], [1, 1]], np.float32)},
        {"x": np.array([[1, -1], [-1, 1]], np.float32)},
    ]
    with pytest.raises(ShapeError, match=r"predict them one at a time"):
        m.predict_batch(examples)
    assert [m.predict(e)["out"].tolist() for e in examples] == [[1, 1, 1], [1, 1]]


def test_an_all_zero_input_is_refused_when_the_prediction_runs():
    m = model({"x": (2, 2)}, positives)
    with pytest.raises(
        ShapeError,
        match=r"layer 'w' \(whereNonZero\): the input of shape "
        r"\[2, 2\] holds no non-zero value",
    ):
        m.predict({"x": -np.ones((2, 2), np.float32)})


def test_where_non_zero_of_a_constant_compiles_statically():
    def add(b):
        b.add_range_static("r", "ramp", end=3, start=-2, step=1)  # [-2, -1, 0, 1, 2]
        b.add_where_nonzero("w", "ramp", "idx")
        b.add_gather("g", ["x", "idx"], "out", axis=0)

    m = model({"x": (5,)}, add)
    assert m.engine.network.tensors["idx"].shape == (4, 1)  # a static network
    x = np.arange(10, 15, dtype=np.float32)
    np.testing.assert_array_equal(m.predict({"x": x})["out"].reshape(-1), [10, 11, 13, 14])

    def zeros(b):
        b.add_fill_static("z", "zeros", output_shape=(5,), value=0.0)
        b.add_where_nonzero("w", "zeros", "idx")
        b.add_gather("g", ["x", "idx"], "out", axis=0)

    with pytest.raises(
        ShapeError,
        match=r"layer 'w' \(whereNonZero\): the input of shape \[5\] "
        r"holds no non-zero value, so the output would be empty",
    ):
        model({"x": (5,)}, zeros)


def test_a_range_ending_at_an_input_value_and_what_follows_it():
    def add(b):
        b.add_range_dynamic("r", ["n"], "ramp", start=0, step=1)
        b.add_where_broadcastable("m", ["ramp", "ramp", "ramp"], "out")

    m = model({"n": (1,)}, add)
    for n in (1, 4, 7):
        np.testing.assert_array_equal(
            m.predict({"n": np.array([n], np.float32)})["out"], np.arange(n)
        )


def test_kinds_reading_parameters_from_inputs_run_per_example():
    def add(b):
        b.add_topk("t", ["x", "k"], ["v", "i"], axis=-1)
        b.add_cumsum("c", ["x", "axis"], "sums")
        b.add_one_hot("h", ["k", "depth"], "hot", axis=-1)
        b.add_fill_dynamic("f", "shape", "filled", value=2.0)

    m = model(
        {"x": (3, 5), "k": (1,), "axis": (1,), "depth": (1,), "shape": (2,)},
        add,
        outputs=("v", "i", "sums", "hot", "filled"),
    )
    rng = np.random.default_rng(3)
    x = rng.permutation(15).reshape(3, 5).astype(np.float32)
    got = m.predict(
        {
            "x": x,
            "k": np.array([2.0], np.float32),
            "axis": np.array([0.0], np.float32),
            "depth": np.array([4.0], np.float32),
            "shape": np.array([2.0, 3.0], np.float32),
        }
    )
    order = np.argsort(-x, axis=-1)[:, :2]
    np.testing.assert_array_equal(got["i"], order)
    np.testing.assert_array_equal(got["v"], np.take_along_axis(x, order, axis=-1))
    np.testing.assert_array_equal(got["sums"], np.cumsum(x, axis=0))
    np.testing.assert_array_equal(got["hot"].reshape(-1), [0, 0, 1, 0])
    np.testing.assert_array_equal(got["filled"], np.full((2, 3), 2.0))


def test_random_dynamic_draws_in_the_shape_an_input_gives():
    def add(b):
        b.add_random_uniform_dynamic("r", ["shape"], "out", minval=0.0, maxval=1.0, seed=5)

    m = model({"shape": (2,)}, add)
    got = m.predict({"shape": np.array([3.0, 2.0], np.float32)})["out"]
    np.testing.assert_allclose(got, np.random.default_rng(5).uniform(0, 1, (3, 2)), rtol=1e-6)
