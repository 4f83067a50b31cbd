"""Mutations of a model protobuf: generic ones over any field, and ones aimed at what Core ML's
validator does not look at (layer wiring, sizes, hyperparameter magnitudes, weight values).

Each mutator is ``mutate(spec, rng) -> str | None``: it edits ``spec`` in place and returns a
short description of the edit, or ``None`` when it found nothing to edit (the driver then
draws another). ``MUTATORS`` lists them with a weight: how often the driver draws each.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from google.protobuf.descriptor import FieldDescriptor

from tests.fuzz.layer_cases import apply_layer_case
from updatable import proto
from updatable.spec import _is_repeated

Mutator = Callable[[proto.Model, np.random.Generator], str | None]

_INT32 = [0, -1, 1, 2, 3, 7, 2**31 - 1, -(2**31), 10**6, 10**9]
_INT64 = [*_INT32, 2**40, 2**62, -(2**62)]
_UINT32 = [0, 1, 2, 3, 7, 2**32 - 1, 10**6, 10**9]
_UINT64 = [*_UINT32, 2**40, 2**62]
_DOUBLE = [0.0, -1.0, 0.5, 2.0, math.nan, math.inf, -math.inf, 1e300, -1e300, 1e-300, 1e9]
_FLOAT = [0.0, -1.0, 0.5, 2.0, math.nan, math.inf, -math.inf, 3e38, -3e38, 1e-30, 1e9]
_STRINGS = ["", "input", "output", "x", "a", "../x", "/tmp/x", "label", "probs"]

SCALAR_VALUES = {
    FieldDescriptor.CPPTYPE_INT32: _INT32,
    FieldDescriptor.CPPTYPE_INT64: _INT64,
    FieldDescriptor.CPPTYPE_UINT32: _UINT32,
    FieldDescriptor.CPPTYPE_UINT64: _UINT64,
    FieldDescriptor.CPPTYPE_DOUBLE: _DOUBLE,
    FieldDescriptor.CPPTYPE_FLOAT: _FLOAT,
    FieldDescriptor.CPPTYPE_STRING: _STRINGS,
}


def _repeated(field) -> bool:
    return _is_repeated(field)


def set_fields(message, path: str = "", found=None) -> list[tuple[object, object, str]]:
    """Every ``(message, field, path)`` that is set, depth first."""
    found = [] if found is None else found
    for field, value in message.ListFields():
        where = f"{path}.{field.name}" if path else field.name
        found.append((message, field, where))
        if field.message_type is not None and not field.message_type.GetOptions().map_entry:
            items = value if _repeated(field) else [value]
            for i, item in enumerate(items):
                set_fields(item, f"{where}[{i}]" if _repeated(field) else where, found)
    return found


def _pick(rng, items):
    return items[int(rng.integers(len(items)))] if items else None


def scalar_extreme(spec, rng) -> str | None:
    """A set scalar field (not an enum) takes an extreme value of its type."""
    fields = [
        (m, f, w)
        for m, f, w in set_fields(spec)
        if not _repeated(f) and f.cpp_type in SCALAR_VALUES and f.enum_type is None
    ]
    picked = _pick(rng, fields)
    if picked is None:
        return None
    message, field, where = picked
    value = _pick(rng, SCALAR_VALUES[field.cpp_type])
    if field.cpp_type == FieldDescriptor.CPPTYPE_STRING and field.type == field.TYPE_BYTES:
        value = value.encode()
    setattr(message, field.name, value)
    return f"{where} = {value!r}"


def enum_value(spec, rng) -> str | None:
    """A set enum field takes another number (some not in the enum: proto3 keeps them)."""
    fields = [(m, f, w) for m, f, w in set_fields(spec) if f.enum_type is not None]
    picked = _pick(rng, fields)
    if picked is None:
        return None
    message, field, where = picked
    value = int(rng.integers(-1, len(field.enum_type.values) + 2))
    if _repeated(field):
        items = getattr(message, field.name)
        if not items:
            return None
        items[int(rng.integers(len(items)))] = value
    else:
        setattr(message, field.name, value)
    return f"{where} = enum {value}"


def clear_field(spec, rng) -> str | None:
    """A set field (message, repeated or scalar) is cleared."""
    picked = _pick(rng, set_fields(spec))
    if picked is None:
        return None
    message, field, where = picked
    message.ClearField(field.name)
    return f"cleared {where}"


def _repeated_fields(spec, numeric_only: bool = False):
    out = []
    for m, f, w in set_fields(spec):
        if not _repeated(f):
            continue
        if numeric_only and f.cpp_type not in (
            FieldDescriptor.CPPTYPE_FLOAT,
            FieldDescriptor.CPPTYPE_DOUBLE,
            FieldDescriptor.CPPTYPE_INT64,
            FieldDescriptor.CPPTYPE_UINT64,
        ):
            continue
        out.append((m, f, w))
    return out


def drop_item(spec, rng) -> str | None:
    """One item of a repeated field is removed."""
    picked = _pick(rng, _repeated_fields(spec))
    if picked is None:
        return None
    message, field, where = picked
    items = getattr(message, field.name)
    index = int(rng.integers(len(items)))
    del items[index]
    return f"removed {where}[{index}]"


def duplicate_item(spec, rng) -> str | None:
    """One item of a repeated field is appended again."""
    picked = _pick(rng, _repeated_fields(spec))
    if picked is None:
        return None
    message, field, where = picked
    items = getattr(message, field.name)
    index = int(rng.integers(len(items)))
    if field.message_type is not None:
        items.add().CopyFrom(items[index])
    else:
        items.append(items[index])
    return f"duplicated {where}[{index}]"


def numbers(spec, rng) -> str | None:
    """Numbers in a repeated numeric field (weights, shapes, samples): truncated, or some
    set to an extreme value."""
    picked = _pick(rng, _repeated_fields(spec, numeric_only=True))
    if picked is None:
        return None
    message, field, where = picked
    items = getattr(message, field.name)
    if rng.random() < 0.4:
        keep = int(rng.integers(len(items)))
        del items[keep:]
        return f"{where} truncated to {keep} values"
    table = (
        _FLOAT
        if field.cpp_type == FieldDescriptor.CPPTYPE_FLOAT
        else (_DOUBLE if field.cpp_type == FieldDescriptor.CPPTYPE_DOUBLE else _INT64)
    )
    if field.cpp_type == FieldDescriptor.CPPTYPE_UINT64:
        table = _UINT64
    value = _pick(rng, table)
    index = int(rng.integers(len(items)))
    items[index] = value
    return f"{where}[{index}] = {value!r}"


# -- aimed at what the validator leaves alone -----------------------------------------------
def _networks(spec):
    """Every neural network in ``spec`` (nested pipeline models included)."""
    kind = spec.WhichOneof("Type")
    if kind in ("neuralNetwork", "neuralNetworkClassifier", "neuralNetworkRegressor"):
        return [getattr(spec, kind)]
    if kind in ("pipeline", "pipelineClassifier", "pipelineRegressor"):
        holder = getattr(spec, kind)
        pipeline = holder if kind == "pipeline" else holder.pipeline
        return [n for sub in pipeline.models for n in _networks(sub)]
    return []


def _layers(spec):
    return [layer for network in _networks(spec) for layer in network.layers]


def layer_wiring(spec, rng) -> str | None:
    """A layer loses its inputs or outputs, gains one, or reads another blob."""
    layers = _layers(spec)
    layer = _pick(rng, layers)
    if layer is None:
        return None
    blobs = sorted(
        {n for x in layers for n in (*x.input, *x.output)}
        | {f.name for f in spec.description.input}
    )
    choice = int(rng.integers(5))
    if choice == 0:
        del layer.input[:]
        return f"layer '{layer.name}' has no inputs"
    if choice == 1:
        del layer.output[:]
        return f"layer '{layer.name}' has no outputs"
    if choice == 2:
        name = _pick(rng, blobs)
        layer.input.append(name)
        return f"layer '{layer.name}' also reads '{name}'"
    if choice == 3:
        layer.output.append(f"{layer.name}_extra")
        return f"layer '{layer.name}' also writes '{layer.name}_extra'"
    if not layer.input:
        return None
    name = _pick(rng, blobs)
    layer.input[int(rng.integers(len(layer.input)))] = name
    return f"layer '{layer.name}' reads '{name}'"


def layer_order(spec, rng) -> str | None:
    """Two layers of a network change places."""
    networks = [n for n in _networks(spec) if len(n.layers) >= 2]
    network = _pick(rng, networks)
    if network is None:
        return None
    i, j = sorted(int(v) for v in rng.choice(len(network.layers), 2, replace=False))
    a = proto.NeuralNetworkLayer.FromString(network.layers[i].SerializeToString())
    network.layers[i].CopyFrom(network.layers[j])
    network.layers[j].CopyFrom(a)
    return f"layers {i} and {j} swapped"


_HUGE = [10**6, 10**9, 2**31 - 1, 2**40, 2**62]


def _int_parameter(parameter, value) -> None:
    parameter.defaultValue = value
    if parameter.WhichOneof("AllowedValues") == "set":
        parameter.set.values.append(value)
    else:
        parameter.range.minValue = 1
        parameter.range.maxValue = max(value, parameter.range.maxValue)


def hyperparameter_size(spec, rng) -> str | None:
    """A network's mini-batch size or epochs becomes huge, and allowed."""
    networks = [n for n in _networks(spec) if n.HasField("updateParams")]
    network = _pick(rng, networks)
    if network is None:
        return None
    params = network.updateParams
    optimizer = params.optimizer.WhichOneof("OptimizerType")
    value = _pick(rng, _HUGE)
    if optimizer is not None and rng.random() < 0.6:
        _int_parameter(getattr(params.optimizer, optimizer).miniBatchSize, value)
        return f"miniBatchSize = {value}"
    _int_parameter(params.epochs, value)
    return f"epochs = {value}"


def learning_rate(spec, rng) -> str | None:
    """A network's learning rate becomes large (and allowed): training diverges."""
    networks = [n for n in _networks(spec) if n.updateParams.optimizer.WhichOneof("OptimizerType")]
    network = _pick(rng, networks)
    if network is None:
        return None
    optimizer = network.updateParams.optimizer
    rate = getattr(optimizer, optimizer.WhichOneof("OptimizerType")).learningRate
    value = float(_pick(rng, [1e3, 1e6, 1e12, 1e30]))
    rate.defaultValue = value
    rate.range.minValue, rate.range.maxValue = 0.0, value * 10
    return f"learningRate = {value}"


def feature_size(spec, rng) -> str | None:
    """A feature's declared size changes: a multiArray dimension or an image side becomes 0,
    1 or huge."""
    features = [*spec.description.input, *spec.description.output, *spec.description.trainingInput]
    sized = [f for f in features if f.type.WhichOneof("Type") in ("multiArrayType", "imageType")]
    feature = _pick(rng, sized)
    if feature is None:
        return None
    value = _pick(rng, [0, 1, 2, 10**5, 10**6, 10**9])
    if feature.type.WhichOneof("Type") == "imageType":
        side = "width" if rng.random() < 0.5 else "height"
        setattr(feature.type.imageType, side, value)
        return f"image '{feature.name}' {side} = {value}"
    shape = feature.type.multiArrayType.shape
    if not shape:
        return None
    index = int(rng.integers(len(shape)))
    shape[index] = value
    return f"'{feature.name}' shape[{index}] = {value}"


def knn_dimensions(spec, rng) -> str | None:
    """A kNN's numberOfDimensions (or k) becomes negative, zero or huge."""
    model = spec
    found = []
    stack = [model]
    while stack:
        m = stack.pop()
        kind = m.WhichOneof("Type")
        if kind == "kNearestNeighborsClassifier":
            found.append(m.kNearestNeighborsClassifier)
        elif kind in ("pipeline", "pipelineClassifier", "pipelineRegressor"):
            holder = getattr(m, kind)
            stack.extend((holder if kind == "pipeline" else holder.pipeline).models)
    knn = _pick(rng, found)
    if knn is None:
        return None
    value = _pick(rng, [-1, 0, 1, 10**6, 2**31 - 1])
    knn.nearestNeighborsIndex.numberOfDimensions = value
    return f"numberOfDimensions = {value}"


def layer_case(spec, rng) -> str | None:
    """A mutation of one layer kind (:mod:`tests.fuzz.layer_cases`)."""
    return apply_layer_case(_layers(spec), rng)


# name -> (mutator, weight)
MUTATORS: dict[str, tuple[Mutator, float]] = {
    "scalar_extreme": (scalar_extreme, 3.0),
    "enum_value": (enum_value, 1.0),
    "clear_field": (clear_field, 1.0),
    "drop_item": (drop_item, 1.0),
    "duplicate_item": (duplicate_item, 1.0),
    "numbers": (numbers, 2.0),
    "layer_wiring": (layer_wiring, 3.0),
    "layer_order": (layer_order, 1.0),
    "hyperparameter_size": (hyperparameter_size, 2.0),
    "learning_rate": (learning_rate, 1.0),
    "feature_size": (feature_size, 2.0),
    "knn_dimensions": (knn_dimensions, 1.0),
    "layer_case": (layer_case, 3.0),
}
