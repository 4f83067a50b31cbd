"""A layer that reads no blob (or too many), or has an unknown enum value, fails at load
with a project error naming it.

Core ML's model-level rules accept a layer with no inputs; the runtime used to reach
``in_shapes[0]`` and raise a raw ``IndexError`` from inside the layer unit.
"""

from __future__ import annotations

import pytest

import runtime
from tests import builders
from updatable.errors import ShapeError, UnsupportedLayerError
from updatable.spec import find_layer

# (model, layer) pairs covering each layer kind these builders hold
CASES = {
    "convolution": (lambda: builders.mnist_convnet(), "conv1"),
    "activation": (lambda: builders.mnist_convnet(), "relu_c1"),
    "pooling": (lambda: builders.mnist_convnet(), "pool"),
    "flatten": (lambda: builders.mnist_convnet(), "flatten"),
    "innerProduct": (lambda: builders.mnist_convnet(), "dense_1"),
    "softmax": (lambda: builders.mnist_convnet(), "softmax"),
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_a_layer_without_inputs_is_a_shape_error_naming_it(kind):
    make, name = CASES[kind]
    spec = make()
    layer = find_layer(spec, name)
    assert layer.WhichOneof("layer") == kind
    del layer.input[:]
    with pytest.raises(ShapeError) as info:
        runtime.Model.load(spec)
    message = str(info.value)
    assert message.startswith(f"layer '{name}' ({kind}) has 0 inputs []; this kind takes")
    assert "\n" not in message


@pytest.mark.parametrize("kind", ["innerProduct", "activation", "softmax", "flatten", "pooling"])
def test_a_one_input_layer_given_two_is_refused(kind):
    make, name = CASES[kind]
    spec = make()
    layer = find_layer(spec, name)
    layer.input.append(layer.input[0])
    with pytest.raises(
        ShapeError,
        match=rf"^layer '{name}' \({kind}\) has 2 inputs .*takes "
        r"exactly 1$",
    ):
        runtime.Model.load(spec)


def test_a_convolution_takes_one_input_or_two_with_dynamic_weights():
    spec = builders.mnist_convnet()
    layer = find_layer(spec, "conv1")
    layer.input.extend(["image", "image"])
    with pytest.raises(ShapeError, match=r"has 3 inputs .*takes 1 to 2$"):
        runtime.Model.load(spec)


@pytest.mark.parametrize(
    "name, field, value", [("flatten", "mode", 5), ("pool", "type", 7), ("pool", "type", -1)]
)
def test_an_enum_value_outside_its_enum_is_refused_naming_the_layer(name, field, value):
    # proto3 keeps unknown enum numbers; indexing the runtime's table raised IndexError (or,
    # for -1, silently picked the table's last entry)
    spec = builders.mnist_convnet()
    layer = find_layer(spec, name)
    setattr(getattr(layer, layer.WhichOneof("layer")), field, value)
    with pytest.raises(UnsupportedLayerError, match=rf"^layer '{name}' .*: unknown .* {value}; "):
        runtime.Model.load(spec)
