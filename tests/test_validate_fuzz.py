"""Validation fuzz test: layer parameters of real models mutated at random (seeded).

Bases: a valid network of each of the 158 layer kinds, the converter-style networks, networks
coremltools' builder wrote, and (with torch) converted torch models. Each mutant changes one to
three things of one layer (nested layers included) or of the model: input / output counts,
numbers (channels, kernel sizes, strides, axes, sizes), repeated values, enum values, weight
arrays (length, precision, quantization), oneof choices, flags, the layer kind, declared ranks,
input shapes, the specification version, the shape mapping. Every mutant must either pass or
get a Core ML rule's issue; nothing but the toolkit's own errors may escape ``validate``.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest
from google.protobuf.descriptor import FieldDescriptor as FD

from tests import builders
from tests.builders import converter_style, every_layer, torch_zoo
from tests.optional import installed
from updatable import proto
from updatable.errors import UpdatableError
from updatable.validation import core_ml_issue, validate

SEED = 14
MUTANTS = 600
CORE_ML_FAMILIES = tuple("GNABCDYPKL")  # every rule id but our lint's X*
_INTERESTING = (0, 1, 2, 3, 4, 5, 7, 8, 16, 64, 255, (1 << 31) - 1, (1 << 32) + 2)
_SIGNED = (-1, -2, -7, -(1 << 31))
_INTEGERS = {FD.TYPE_INT32, FD.TYPE_INT64, FD.TYPE_UINT32, FD.TYPE_UINT64, FD.TYPE_SINT32}
_FLOATS = {FD.TYPE_FLOAT, FD.TYPE_DOUBLE}
_WEIGHTS = proto.NeuralNetwork_pb2.WeightParams.DESCRIPTOR
_KINDS = every_layer.kinds()


def _is_list(field) -> bool:
    """A repeated field (``is_repeated`` in protobuf >= 5.28; ``label`` before)."""
    if hasattr(field, "is_repeated"):
        return field.is_repeated
    return field.label == FD.LABEL_REPEATED


def _bases() -> dict:
    bases = {f"every:{kind}": every_layer.network(kind) for kind in _KINDS}
    bases.update({f"style:{n}": make() for n, make in converter_style.CONVERTER_STYLE.items()})
    for name in (
        "updatable_nn",
        "updatable_classifier",
        "mnist_convnet",
        "image_classifier",
        "fire_net",
        "base_nn",
        "updatable_mnist",
    ):
        bases[f"builder:{name}"] = getattr(builders, name)()
    if installed("torch"):
        for name, target in (
            ("cnn_bn", "iOS13"),
            ("transformer", "iOS14"),
            ("gru_text", "iOS13"),
            ("bilstm", "iOS13"),
            ("mobilenet_v2", "iOS13"),
            ("unet", "iOS14"),
        ):
            bases[f"torch:{name}"] = torch_zoo.converted(name, target)
    return bases


def _network(spec):
    return getattr(spec, spec.WhichOneof("Type"))


def _layers(container, found=None) -> list:
    """Every layer of a network, nested networks of loops and branches included."""
    found = [] if found is None else found
    for layer in container.layers:
        found.append(layer)
        kind = layer.WhichOneof("layer")
        if kind == "loop":
            _layers(layer.loop.conditionNetwork, found)
            _layers(layer.loop.bodyNetwork, found)
        elif kind == "branch":
            _layers(layer.branch.ifBranch, found)
            _layers(layer.branch.elseBranch, found)
    return found


def _fields(message, wanted):
    """(message, field) pairs below ``message`` (WeightParams are not entered) for which
    ``wanted(field)`` holds."""
    pairs = []
    for field in message.DESCRIPTOR.fields:
        if wanted(field):
            pairs.append((message, field))
        if field.type == FD.TYPE_MESSAGE and field.message_type is not _WEIGHTS:
            if _is_list(field):
                for item in getattr(message, field.name):
                    pairs += _fields(item, wanted)
            elif message.HasField(field.name):
                pairs += _fields(getattr(message, field.name), wanted)
    return pairs


def _value_for(field, rng):
    if field.type in _FLOATS:
        return rng.choice([0.0, -1.0, 0.5, 1.5, 6.0, -50.0, 1e9])
    values = list(_INTERESTING)
    if field.type in (FD.TYPE_INT32, FD.TYPE_INT64, FD.TYPE_SINT32):
        values += _SIGNED
    value = rng.choice(values)
    if field.type in (FD.TYPE_INT32, FD.TYPE_UINT32):
        value = min(value, (1 << 31) - 1)
    return value


def _params(layer):
    kind = layer.WhichOneof("layer")
    return getattr(layer, kind) if kind else layer


def _number(spec, layer, rng) -> bool:
    pairs = _fields(
        _params(layer),
        lambda f: not _is_list(f) and (f.type in _INTEGERS or f.type in _FLOATS),
    )
    if not pairs:
        return False
    message, field = rng.choice(pairs)
    setattr(message, field.name, _value_for(field, rng))
    return True


def _repeated(spec, layer, rng) -> bool:
    pairs = _fields(
        _params(layer),
        lambda f: _is_list(f) and f.type in _INTEGERS | _FLOATS | {FD.TYPE_BOOL},
    )
    if not pairs:
        return False
    message, field = rng.choice(pairs)
    values = getattr(message, field.name)
    choice = rng.randrange(3)
    if choice == 0 and len(values):
        del values[rng.randrange(len(values))]
    elif field.type == FD.TYPE_BOOL:
        values.append(rng.random() < 0.5)
    elif choice == 1 or not len(values):
        values.append(_value_for(field, rng))
    else:
        values[rng.randrange(len(values))] = _value_for(field, rng)
    return True


def _enum(spec, layer, rng) -> bool:
    pairs = _fields(_params(layer), lambda f: f.type == FD.TYPE_ENUM and not _is_list(f))
    if not pairs:
        return False
    message, field = rng.choice(pairs)
    setattr(message, field.name, rng.choice([0, 1, 2, 3, 5, 9, 2147483647]))
    return True


def _weights(spec, layer, rng) -> bool:
    pairs = _fields(_params(layer), lambda f: f.message_type is _WEIGHTS)
    if not pairs:
        return False
    message, field = rng.choice(pairs)
    weights = getattr(message, field.name)
    if _is_list(field):  # custom layers' list of weights
        if not len(weights):
            return False
        weights = weights[rng.randrange(len(weights))]
    choice = rng.randrange(6)
    count = len(weights.floatValue) or len(weights.float16Value) // 2
    if choice == 0:
        del weights.floatValue[rng.randrange(len(weights.floatValue) + 1) :]
    elif choice == 1:
        weights.floatValue.extend([0.1] * rng.randrange(1, 4))
    elif choice == 2:
        weights.ClearField("floatValue")
        weights.float16Value = b"\x00\x3c" * (count + rng.choice([0, 0, 1]))
    elif choice == 3:
        weights.float16Value = b"\x00\x3c" * max(count, 1)  # a second value type
    elif choice == 4:
        weights.ClearField("floatValue")
        weights.rawValue = b"\x01" * rng.randrange(0, count + 2)
        weights.quantization.numberOfBits = rng.choice([0, 1, 4, 8, 9])
        weights.quantization.linearQuantization.scale.extend([1.0] * rng.choice([1, 2, 3]))
    else:
        weights.Clear()
    return True


def _oneof(spec, layer, rng) -> bool:
    params = _params(layer)
    oneofs = [o for o in params.DESCRIPTOR.oneofs if o.fields]
    if params is layer or not oneofs:
        return False
    oneof = rng.choice(oneofs)
    field = rng.choice([*oneof.fields, None])
    if field is None:
        current = params.WhichOneof(oneof.name)
        if current:
            params.ClearField(current)
    elif field.type == FD.TYPE_MESSAGE:
        getattr(params, field.name).SetInParent()
    else:
        setattr(params, field.name, _value_for(field, rng))
    return True


def _flag(spec, layer, rng) -> bool:
    pairs = _fields(_params(layer), lambda f: f.type == FD.TYPE_BOOL and not _is_list(f))
    if not pairs:
        return False
    message, field = rng.choice(pairs)
    setattr(message, field.name, not getattr(message, field.name))
    return True


def _blobs(spec, layer, rng) -> bool:
    blobs = [f.name for f in spec.description.input] + [
        b for x in _layers(_network(spec)) for b in x.output
    ]
    side = layer.input if rng.random() < 0.6 else layer.output
    choice = rng.randrange(3)
    if choice == 0 and len(side):
        del side[rng.randrange(len(side))]
    elif choice == 1:
        side.append(rng.choice(blobs))
    else:
        side.append(f"new_{rng.randrange(100)}")
    return True


def _kind(spec, layer, rng) -> bool:
    kind = rng.choice([*_KINDS, None])
    current = layer.WhichOneof("layer")
    if current:
        layer.ClearField(current)
    if kind:
        getattr(layer, kind).SetInParent()
    return True


def _ranks(spec, layer, rng) -> bool:
    del layer.inputTensor[:]
    del layer.outputTensor[:]
    for blobs, tensors in ((layer.input, layer.inputTensor), (layer.output, layer.outputTensor)):
        for _ in range(len(blobs) + rng.choice([0, 0, 0, 1, -1])):
            rank = rng.choice([0, 1, 2, 3, 4, 5, 6])
            tensor = tensors.add(rank=rank)
            if rng.random() < 0.3:
                tensor.dimValue.extend([rng.choice([1, 2, 3])] * rng.choice([rank, rank + 1]))
    return True


def _model(spec, layer, rng) -> bool:
    choice = rng.randrange(3)
    if choice == 0:
        spec.specificationVersion = rng.choice([1, 2, 3, 4, 5, 6, 10, 11])
    elif choice == 1:
        network = _network(spec)
        network.arrayInputShapeMapping = 1 - network.arrayInputShapeMapping
    else:
        arrays = [f for f in spec.description.input if f.type.HasField("multiArrayType")]
        if not arrays:
            return False
        shape = rng.choice(arrays).type.multiArrayType.shape
        if rng.random() < 0.5 or not len(shape):
            shape.append(rng.choice([1, 2, 3]))
        else:
            del shape[-1]
    return True


MUTATIONS = {
    "number": _number,
    "repeated": _repeated,
    "enum": _enum,
    "weights": _weights,
    "oneof": _oneof,
    "flag": _flag,
    "blobs": _blobs,
    "kind": _kind,
    "ranks": _ranks,
    "model": _model,
}


def mutants(count: int, seed: int):
    """``count`` (base name, [mutation names], spec) triples, reproducibly."""
    rng = random.Random(seed)
    bases = _bases()
    names = sorted(bases)
    for _ in range(count):
        name = rng.choice(names)
        spec = proto.Model()
        spec.CopyFrom(bases[name])
        layers = _layers(_network(spec))
        done = []
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            mutation = rng.choice(sorted(MUTATIONS))
            if MUTATIONS[mutation](spec, rng.choice(layers), rng):
                done.append(mutation)
        yield name, done, spec


@pytest.fixture(scope="module")
def outcomes() -> Counter:
    results = Counter()
    for name, done, spec in mutants(MUTANTS, SEED):
        try:
            issue = core_ml_issue(spec)
            validate(spec)  # and our lint
        except UpdatableError as error:
            results[f"raised {type(error).__name__}"] += 1
            continue
        except Exception as error:  # the test's point: report, then fail
            pytest.fail(f"{name} mutated by {done}: {type(error).__name__}: {error}")
        if issue is None:
            results["passed"] += 1
        else:
            assert issue.code[0] in CORE_ML_FAMILIES and issue.message, (name, done, issue)
            results[issue.code] += 1
    return results


def test_every_mutant_passes_or_gets_a_core_ml_issue(outcomes):
    assert sum(outcomes.values()) == MUTANTS
    assert not [key for key in outcomes if key.startswith("raised")], outcomes


def test_the_per_layer_rules_catch_most_mutants(outcomes):
    """The fuzz reaches the per-layer checks: they reject a large share of the mutants, in
    every family, and some mutants stay valid."""
    per_layer = sum(n for code, n in outcomes.items() if code.startswith("Y"))
    assert per_layer >= MUTANTS // 4, outcomes
    assert {"Y1", "Y2", "Y3", "Y4", "Y5", "Y7", "N8"} <= set(outcomes), outcomes
    assert outcomes["passed"] >= MUTANTS // 10, outcomes
