"""Networks whose shapes depend on the values of the model inputs: compiled per set of values
(``runtime.nn.dynamic``), run in groups of examples that share them, refused for what needs
static shapes. References are numpy reshapes and slices of the inputs."""

from __future__ import annotations

import numpy as np
import pytest

import runtime
from runtime.nn.dynamic import SpecializedNetwork
from runtime.nn.graph import compile_network
from tests.nd_networks import network
from updatable.errors import ShapeError, UnsupportedLayerError, UnsupportedModelError


def _reshape_by_input():
    """``x`` (6,) reshaped to the shape held by the input ``shape`` (2,), then doubled."""

    def layers(b):
        b.add_reshape_dynamic("r", ["x", "shape"], "y")
        b.add_elementwise("twice", ["y"], "out", "MULTIPLY", alpha=2.0)

    return network({"x": (6,), "shape": (2,)}, layers)


def test_compiling_alone_names_the_layer_whose_shape_depends_on_input_values():
    with pytest.raises(
        UnsupportedLayerError,
        match=r"layer 'r' \(reshapeDynamic\): its output "
        r"shape depends on the values of its second",
    ):
        compile_network(_reshape_by_input())


def test_each_set_of_values_compiles_once_and_examples_that_share_one_run_together():
    model = runtime.Model.load(_reshape_by_input())
    network = model.engine.network
    assert isinstance(network, SpecializedNetwork) and network.needed == ("shape",)
    x = np.arange(18, dtype=np.float32).reshape(3, 6)
    shapes = np.float32([[2, 3], [2, 3], [2, 3]])
    outputs = model.predict_batch({"x": x, "shape": shapes})
    for example, out in zip(x, outputs, strict=True):
        np.testing.assert_array_equal(out["out"], 2 * example.reshape(2, 3))
    alone = model.predict({"x": x[0], "shape": np.float32([3, 2])})
    np.testing.assert_array_equal(alone["out"], 2 * x[0].reshape(3, 2))
    assert len(network._compiled) == 2  # [2, 3] and [3, 2]
    model.predict({"x": x[1], "shape": np.float32([2, 3])})
    assert len(network._compiled) == 2


def test_a_batch_whose_examples_need_different_shapes_is_refused():
    model = runtime.Model.load(_reshape_by_input())
    x = np.zeros((2, 6), np.float32)
    with pytest.raises(
        ShapeError,
        match=r"output 'out' has shapes \[\[2, 3\], \[3, 2\]\] for "
        r"different examples .* predict them one at a time",
    ):
        model.predict_batch({"x": x, "shape": np.float32([[2, 3], [3, 2]])})


def test_slice_bounds_and_a_later_dependent_layer_specialize_in_turn():
    """sliceDynamic's begin comes from one input; a reshapeDynamic after it from another."""

    def layers(b):
        b.add_slice_dynamic(
            "s",
            ["x", "begin"],
            "sliced",
            end_ids=[4, 6],
            strides=[1, 1],
            begin_masks=[False, False],
            end_masks=[False, False],
        )
        b.add_reshape_dynamic("r", ["sliced", "shape"], "out")

    spec = network({"x": (4, 6), "begin": (2,), "shape": (2,)}, layers)
    model = runtime.Model.load(spec)
    x = np.arange(24, dtype=np.float32).reshape(4, 6)
    out = model.predict({"x": x, "begin": np.float32([1, 2]), "shape": np.float32([4, 3])})
    np.testing.assert_array_equal(out["out"], x[1:4, 2:6].reshape(4, 3))
    out = model.predict({"x": x, "begin": np.float32([2, 0]), "shape": np.float32([3, 4])})
    np.testing.assert_array_equal(out["out"], x[2:4, 0:6].reshape(3, 4))


def test_training_and_weight_parameters_need_static_shapes():
    model = runtime.Model.load(_reshape_by_input())
    with pytest.raises(UnsupportedModelError, match=r"shapes depend on the values of \['shape'\]"):
        model.engine.network.steps  # noqa: B018
