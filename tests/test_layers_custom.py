"""Custom layers: refused by default with the class name, run with a registered Python
implementation (``runtime.register_custom_layer``), its weights and parameters handed over as
the proto holds them, and its outputs held to their shapes."""

from __future__ import annotations

import numpy as np
import pytest
from coremltools.models import datatypes
from coremltools.models.neural_network import NeuralNetworkBuilder

import runtime
from runtime.nn.graph import compile_network
from tests.nd_networks import network, run
from updatable import proto
from updatable.errors import ShapeError, UnsupportedLayerError

CLASS = "ScaledSwish"


def custom_params(**parameters) -> proto.NeuralNetwork_pb2.CustomLayerParams:
    """``CustomLayerParams`` of class ``CLASS`` with two weights (float, raw) and
    ``parameters``."""
    params = proto.NeuralNetwork_pb2.CustomLayerParams(className=CLASS, description="test")
    params.weights.add().floatValue.extend([0.5, 2.0])
    params.weights.add().rawValue = bytes([1, 2, 3])
    for key, (field, value) in parameters.items():
        setattr(params.parameters[key], field, value)
    return params


def swish_network(shape=(2, 5), outputs=("out",), **parameters):
    def add(b):
        b.add_custom("swish", ["x"], list(outputs), custom_params(**parameters))

    return network({"x": shape}, add, outputs=outputs)


@pytest.fixture
def registered():
    """Implementation of CLASS: ``w0 * x * sigmoid(w1 * x) + beta``; records its calls."""
    calls = []

    def forward(inputs, *, weights, parameters):
        calls.append((inputs, weights, parameters))
        (x,) = inputs
        scale, slope = weights[0]
        return scale * x / (1 + np.exp(-slope * x)) + parameters.get("beta", 0.0)

    runtime.register_custom_layer(CLASS, forward)
    yield calls
    runtime.unregister_custom_layer(CLASS)


def test_a_custom_layer_without_implementation_is_refused_naming_its_class():
    with pytest.raises(
        UnsupportedLayerError,
        match=r"layer 'swish' \(custom\): custom layer "
        f"class '{CLASS}' has no implementation.*register_custom_layer",
    ):
        runtime.Model.load(swish_network())


@pytest.mark.parametrize("shape", [(7,), (2, 5), (1, 3, 4, 2)])
def test_a_registered_implementation_runs_on_the_batch(registered, shape):
    spec = swish_network(shape, beta=("doubleValue", 0.25))
    x = np.random.default_rng(0).standard_normal((4, *shape)).astype(np.float32)
    out = run(spec, {"x": x})["out"]
    expected = 0.5 * x / (1 + np.exp(-2.0 * x)) + 0.25
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    _, weights, parameters = registered[-1]
    # the batch, Core ML shapes: whole, or in parts when the runtime splits it across threads
    # (the call at load sees one example of zeros)
    parts = [call[0][0] for call in registered if call[0][0].any()]
    assert all(part.shape[1:] == shape for part in parts)
    assert sum(len(part) for part in parts) == 4
    np.testing.assert_array_equal(weights[0], np.float32([0.5, 2.0]))
    assert weights[1].dtype == np.uint8 and weights[1].tolist() == [1, 2, 3]
    assert parameters == {"beta": 0.25}


def test_parameters_of_every_type_arrive_as_python_values(registered):
    spec = swish_network(
        beta=("doubleValue", 1.5),
        name=("stringValue", "s"),
        small=("intValue", -3),
        large=("longValue", 2**40),
        flag=("boolValue", True),
    )
    compile_network(spec)
    assert registered[-1][2] == {
        "beta": 1.5,
        "name": "s",
        "small": -3,
        "large": 2**40,
        "flag": True,
    }


def test_output_shapes_come_from_the_given_function_or_one_call_on_zeros(registered):
    compile_network(swish_network((3, 2)))
    probe = registered[-1][0][0]
    assert probe.shape == (1, 3, 2) and not probe.any()  # learned from one example of zeros

    def pool(inputs, *, weights, parameters):
        return [inputs[0].sum(axis=-1, keepdims=True), inputs[0].max(axis=-1, keepdims=True)]

    runtime.register_custom_layer(
        CLASS, pool, output_shapes=lambda shapes, _: [(*shapes[0][:-1], 1)] * 2
    )
    spec = swish_network((3, 4), outputs=("total", "top"))
    x = np.random.default_rng(1).standard_normal((2, 3, 4))
    out = run(spec, {"x": x}, outputs=("total", "top"))
    np.testing.assert_allclose(out["total"], x.sum(-1, keepdims=True))
    np.testing.assert_allclose(out["top"], x.max(-1, keepdims=True))


def test_outputs_that_break_their_declared_shapes_are_refused(registered):
    runtime.register_custom_layer(
        CLASS, lambda inputs, **_: inputs[0][:, :1], output_shapes=lambda shapes, _: shapes
    )
    net = compile_network(swish_network((2, 5)))
    with pytest.raises(
        ShapeError,
        match=r"returned arrays of shapes \[\[\d, 1, 5\]\]; expected "
        r"\[\[\d, 2, 5\]\]",
    ):
        net.run({"x": np.zeros((3, 2, 5), np.float32)})
    runtime.register_custom_layer(CLASS, lambda inputs, **_: [inputs[0]] * 2)
    with pytest.raises(ShapeError, match="makes 2 outputs; the layer names 1"):
        compile_network(swish_network())


def test_a_custom_layer_in_a_rank_5_network_sees_core_ml_order(registered):
    """Old networks hold blobs channels-last; the implementation still gets [Seq, B, C, H, W]
    batches in Core ML's element order."""
    runtime.register_custom_layer(CLASS, lambda inputs, **_: inputs[0][..., ::-1].copy())
    builder = NeuralNetworkBuilder([("x", datatypes.Array(2, 3, 4))], [("out", None)])
    builder.add_custom("swish", ["x"], ["out"], custom_params())
    model = runtime.Model.load(builder.spec)
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_array_equal(model.predict({"x": x})["out"], x[..., ::-1])


def test_registration_takes_a_class_name_and_callables():
    with pytest.raises(ValueError, match="non-empty string"):
        runtime.register_custom_layer("", lambda inputs, **_: inputs[0])
    with pytest.raises(TypeError, match="callable"):
        runtime.register_custom_layer(CLASS, "not a function")
    runtime.unregister_custom_layer("never registered")  # no error
