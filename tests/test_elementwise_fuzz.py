"""Every elementwise-family kind, fed random parameters (each field of its proto message set at
random, out-of-range values included) and random input counts and shapes, either compiles and
runs, or is refused with the runtime's own errors naming the layer: ``ShapeError`` /
``UnsupportedLayerError`` at load, ``FeatureError`` for an index out of range while a
prediction runs. No raw ``IndexError``, numpy ``ValueError`` or ``TypeError`` escapes.
"""

from __future__ import annotations

import numpy as np
import pytest
from coremltools.models import datatypes
from coremltools.models.neural_network import NeuralNetworkBuilder
from google.protobuf.descriptor import FieldDescriptor

from runtime.nn.graph import compile_network
from runtime.nn.layers import FAMILIES
from runtime.nn.tensors import ND, convert
from updatable import spec as spec_io
from updatable.errors import FeatureError, ShapeError, UnsupportedLayerError

KINDS = sorted(FAMILIES["elementwise"])
CASES = 40  # random layers per kind
ALLOWED = (ShapeError, UnsupportedLayerError, FeatureError)


def random_value(rng, field):
    """A random value for one scalar field, edge values included."""
    if field.type == FieldDescriptor.TYPE_BOOL:
        return bool(rng.integers(0, 2))
    if field.type in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
        return float(rng.choice([-2.0, -1.0, 0.0, 0.3, 1.0, 2.5, 1e-10]))
    if field.type == FieldDescriptor.TYPE_ENUM:
        return int(rng.integers(0, 9))
    if field.type in (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_UINT32):
        return int(rng.integers(0, 7))
    return int(rng.integers(-6, 7))


def fill(rng, message):
    """Set every field of ``message`` at random (weights: a random number of values)."""
    for field in message.DESCRIPTOR.fields:
        if field.message_type is not None:
            if field.message_type.name == "WeightParams":
                getattr(message, field.name).floatValue.extend(
                    rng.standard_normal(int(rng.integers(0, 13))).tolist()
                )
            continue
        if spec_io._is_repeated(field):
            getattr(message, field.name).extend(
                random_value(rng, field) for _ in range(int(rng.integers(0, 6)))
            )
        else:
            setattr(message, field.name, random_value(rng, field))


def random_network(rng, oneof):
    count = int(rng.integers(0, 4))
    shapes = [
        tuple(int(d) for d in rng.integers(1, 5, size=int(rng.integers(1, 5))))
        for _ in range(count)
    ]
    names = [f"in{i}" for i in range(count)]
    builder = NeuralNetworkBuilder(
        [(n, datatypes.Array(*s)) for n, s in zip(names, shapes, strict=True)]
        or [("unused", datatypes.Array(1))],
        [(o, None) for o in ("out", "second")],
        disable_rank5_shape_mapping=True,
    )
    layer = builder._add_generic_layer("fuzzed", names, ["out", "second"][: 1 + (oneof == "topK")])
    getattr(layer, oneof).SetInParent()
    fill(rng, getattr(layer, oneof))
    if oneof == "topK":
        builder.spec.description.output[1].name = "second"
    else:
        del builder.spec.description.output[1]
    return builder.spec, dict(zip(names, shapes, strict=True))


def integral_data(rng, shape):
    """Values that are valid indices and counts often, invalid sometimes."""
    return rng.integers(-3, 5, size=(2, *shape)).astype(np.float32)


@pytest.mark.parametrize("oneof", KINDS)
def test_random_parameters_compile_and_run_or_are_refused_cleanly(oneof):
    rng = np.random.default_rng(abs(hash(oneof)) % 2**32)
    outcomes = {"ran": 0, "refused": 0}
    for _ in range(CASES):
        spec, inputs = random_network(rng, oneof)
        try:
            network = compile_network(spec)
            feeds = {
                n: convert(
                    integral_data(rng, s),
                    network.tensors[n].as_layout(ND),
                    network.tensors[n].layout,
                )
                for n, s in inputs.items()
            }
            network.run(feeds)
            outcomes["ran"] += 1
        except ALLOWED as error:
            assert "'fuzzed'" in str(error), f"{oneof}: {error} does not name the layer"
            outcomes["refused"] += 1
    assert sum(outcomes.values()) == CASES
