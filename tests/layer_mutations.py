"""Mutations of ``tests.builders.every_layer`` networks for the per-layer validator tests.

Each helper returns ``mutate(spec, layer)``; a test case lists the mutations that turn the
valid network of a kind into one Core ML rejects with a given message.
"""

from __future__ import annotations

import pytest

from tests.builders import every_layer
from tests.issue_checks import expect_issue
from updatable.validation import MODEL_PARAMS


def params_of(layer):
    return getattr(layer, layer.WhichOneof("layer"))


def _target(layer, path: str):
    target = params_of(layer)
    *parents, field = path.split(".")
    for parent in parents:
        target = getattr(target, parent)
    return target, field


def p(**values):
    """Set parameters of the layer's kind; ``a__b`` reaches nested messages, a list replaces a
    repeated field."""

    def mutate(spec, layer) -> None:
        for key, value in values.items():
            target, field = _target(layer, key.replace("__", "."))
            if isinstance(value, list):
                del getattr(target, field)[:]
                getattr(target, field).extend(value)
            else:
                setattr(target, field, value)

    return mutate


def clear(*paths: str):
    def mutate(spec, layer) -> None:
        for path in paths:
            target, field = _target(layer, path)
            target.ClearField(field)

    return mutate


def weights(path: str, *, floats=None, fp16=None, raw=None, int8=None, quant=None):
    """Replace the ``WeightParams`` at ``path``: FP32 / FP16 value counts, raw or int8 bytes,
    and quantization ``(bits, scales, biases)`` or ``(bits, "lut", table size)``."""

    def mutate(spec, layer) -> None:
        target, field = _target(layer, path)
        w = getattr(target, field)
        w.Clear()
        w.floatValue.extend([0.5] * (floats or 0))
        w.float16Value = b"\x00\x3c" * (fp16 or 0)
        w.rawValue = b"\x01" * (raw or 0)
        w.int8RawValue = b"\x01" * (int8 or 0)
        if quant is not None:
            w.quantization.numberOfBits = quant[0]
            if quant[1] == "lut":
                w.quantization.lookupTableQuantization.floatValue.extend([0.0] * quant[2])
            elif quant[1] is not None:
                w.quantization.linearQuantization.scale.extend(quant[1])
                w.quantization.linearQuantization.bias.extend(quant[2])

    return mutate


def input_shape(name: str, shape):
    return lambda spec, layer: every_layer.set_shape(spec.description.input, name, shape)


def output_shape(name: str, shape):
    return lambda spec, layer: every_layer.set_shape(spec.description.output, name, shape)


def wire(inputs=None, outputs=None):
    return lambda spec, layer: every_layer.rewire(spec, layer, inputs, outputs)


def ranks(inputs=(), outputs=()):
    return lambda spec, layer: every_layer.declare_ranks(layer, inputs, outputs)


def then(function):
    """Any other edit: ``function(spec, layer)``."""
    return function


def check_case(kind: str, mutations, code: str, message: str, result_type=MODEL_PARAMS):
    """Build the kind's valid network, apply ``mutations``, expect Core ML's issue."""
    spec = every_layer.network(kind)
    layer = every_layer.nested(spec)
    for mutate in mutations:
        mutate(spec, layer)
    where = "layers['L']"
    if kind in ("loopBreak", "loopContinue"):
        where = "layers['outer'].loop.bodyNetwork.layers['L']"
    return expect_issue(spec, code, message, result_type, where)


def cases(table):
    """pytest parameters ``(kind, mutations, code, message)`` with readable ids."""
    seen: dict[str, int] = {}
    params = []
    for kind, mutations, code, message in table:
        seen[kind] = seen.get(kind, 0) + 1
        params.append(pytest.param(kind, mutations, code, message, id=f"{kind}-{seen[kind]}"))
    return params
