"""Runtime, neural-network layer: Core ML ``tile``: repeat a tensor along each axis.

``TileLayerParams`` (NeuralNetwork.proto, Core ML 3): ``reps`` (at least 1 entry, at most the
rank; 1s prepended when shorter: ``(2, 4, 2)`` with ``(6)`` gives ``(2, 4, 12)``), or, with a
second input (spec 5), that input's values; the output keeps the rank. As ``numpy.tile``
along the tensor's axes; the example axis is never repeated. A second input computed from the
model inputs raises ``NeedsValues``: the engine compiles per set of values
(``runtime.nn.dynamic``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from ._common import where
from ._nd_axes import input_count, integers, unknown_value
from .base import ND, Built, CoreMLShape, LayerKind


@dataclass(frozen=True)
class TileAttrs:
    reps: tuple[int, ...]  # one per Core ML axis
    inputs: int


def build(layer, in_shapes: list[CoreMLShape], values) -> Built:
    input_count(layer, in_shapes, 1, 2)
    shape = tuple(in_shapes[0])
    if len(in_shapes) == 2:
        if values[1] is None:
            raise unknown_value(layer, "second input (the repetitions)")
        reps = integers(layer, values[1], "reps")
    else:
        reps = [int(r) for r in layer.tile.reps]
    if not 1 <= len(reps) <= len(shape) or min(reps) < 1:
        raise ShapeError(
            f"{where(layer)}: reps {reps} must hold 1 to {len(shape)} positive entries for the "
            f"input of shape {list(shape)}"
        )
    reps = [1] * (len(shape) - len(reps)) + reps
    out = tuple(d * r for d, r in zip(shape, reps, strict=True))
    return Built(TileAttrs(tuple(reps), len(in_shapes)), {}, [out])


def forward(attrs: TileAttrs, params, xs, keep=False, out=None):
    """``numpy.tile`` with 1 repetition of the example axis."""
    del params, keep, out
    return [np.tile(xs[0], (1, *attrs.reps))], None


def backward(attrs: TileAttrs, params, cache, dys, *, input_grads=True, param_grads=True):
    """``dx`` = the sum of ``dy`` over the copies."""
    del params, cache, param_grads
    if not input_grads:
        return [None] * attrs.inputs, {}
    dy = dys[0]
    split = [dy.shape[0]]
    for rep, size in zip(attrs.reps, dy.shape[1:], strict=True):
        split += [rep, size // rep]
    summed = dy.reshape(split).sum(axis=tuple(range(1, len(split), 2)))
    return [summed] + [None] * (attrs.inputs - 1), {}


KIND = LayerKind("tile", build, forward, backward, layouts=(ND,), value_inputs=(1,))
