"""Mutations of one layer kind, keyed by the Core ML oneof name of the layer.

``LAYER_CASES[kind]`` lists functions ``case(params, rng) -> str | None`` that edit the
layer's parameter message (``layer.<kind>``) in place. Add a kind with one line; the
driver applies a case to a random layer that has cases.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Case = Callable[[object, np.random.Generator], str | None]


def _choice(rng, values):
    return values[int(rng.integers(len(values)))]


def _set(field: str, values) -> Case:
    def case(params, rng):
        value = _choice(rng, values)
        setattr(params, field, value)
        return f"{field} = {value}"

    case.__name__ = f"set_{field}"
    return case


def _repeated(field: str, values) -> Case:
    def case(params, rng):
        items = getattr(params, field)
        del items[:]
        items.extend(_choice(rng, values))
        return f"{field} = {list(items)}"

    case.__name__ = f"set_{field}"
    return case


def _weights_count(field: str) -> Case:
    def case(params, rng):
        weights = getattr(params, field)
        values = weights.floatValue
        if not values:
            return None
        if rng.random() < 0.5:
            del values[int(rng.integers(len(values))) :]
            return f"{field} truncated to {len(values)} values"
        values.extend([0.5] * int(rng.integers(1, 4)))
        return f"{field} has {len(values)} values"

    case.__name__ = f"count_{field}"
    return case


_CHANNELS = [0, 1, 2, 3, 10**6, 2**31 - 1]
_KERNEL = [[0, 0], [1, 1], [3, 3], [100, 100], [1, 10**6]]
_STRIDE = [[0, 0], [1, 1], [2, 2], [100, 100]]
_PAD = [[0, 0], [1, 1], [10**4, 10**4]]

LAYER_CASES: dict[str, list[Case]] = {
    "innerProduct": [
        _set("inputChannels", _CHANNELS),
        _set("outputChannels", _CHANNELS),
        _weights_count("weights"),
        _weights_count("bias"),
    ],
    "convolution": [
        _set("outputChannels", _CHANNELS),
        _set("kernelChannels", _CHANNELS),
        _set("nGroups", [0, 2, 3, 10**6]),
        _repeated("kernelSize", _KERNEL),
        _repeated("stride", _STRIDE),
        _repeated("dilationFactor", [[0, 0], [2, 2], [10**4, 10**4]]),
        _weights_count("weights"),
    ],
    "pooling": [
        _repeated("kernelSize", _KERNEL),
        _repeated("stride", _STRIDE),
        _set("type", [0, 1, 2, 7]),
    ],
    "softmax": [],
    "flatten": [_set("mode", [0, 1, 5])],
    "activation": [],
    "concat": [_set("sequenceConcat", [True])],
}


def apply_layer_case(layers, rng) -> str | None:
    """Apply a random case to a random layer whose kind has cases."""
    candidates = [layer for layer in layers if LAYER_CASES.get(layer.WhichOneof("layer") or "", [])]
    if not candidates:
        return None
    layer = _choice(rng, candidates)
    kind = layer.WhichOneof("layer")
    case = _choice(rng, LAYER_CASES[kind])
    done = case(getattr(layer, kind), rng)
    return None if done is None else f"layer '{layer.name}' ({kind}): {done}"
