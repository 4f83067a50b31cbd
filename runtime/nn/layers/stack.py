"""Runtime, neural-network layer: Core ML ``stack``: join tensors of one shape along a new axis.

``StackLayerParams`` (NeuralNetwork.proto, Core ML 3): like ``numpy.stack``; at least 2 inputs,
all of the same shape; the output has rank + 1 and ``axis`` counts over the output (negative
values from its end: ``(2, 4, 2)`` x 5 with axis ``-2`` gives ``(2, 4, 5, 2)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from ._common import where
from ._nd_axes import array_axis, at_least, axis
from .base import ND, Built, CoreMLShape, LayerKind


@dataclass(frozen=True)
class StackAttrs:
    axis: int  # array axis of the new axis
    count: int


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    at_least(layer, in_shapes, 2)
    shapes = {tuple(s) for s in in_shapes}
    if len(shapes) > 1:
        raise ShapeError(
            f"{where(layer)}: inputs of shapes {[list(s) for s in in_shapes]} cannot be "
            "stacked; they need the same shape"
        )
    shape = tuple(in_shapes[0])
    at = axis(layer, layer.stack.axis, len(shape) + 1)
    out = (*shape[:at], len(in_shapes), *shape[at:])
    return Built(StackAttrs(array_axis(at), len(in_shapes)), {}, [out])


def forward(attrs: StackAttrs, params, xs, keep=False, out=None):
    """``numpy.stack`` along the new axis."""
    del params, keep, out
    return [np.stack(xs, axis=attrs.axis)], None


def backward(attrs: StackAttrs, params, cache, dys, *, input_grads=True, param_grads=True):
    """Each input gets its slice of ``dy`` along the new axis."""
    del params, cache, param_grads
    if not input_grads:
        return [None] * attrs.count, {}
    return [
        np.ascontiguousarray(np.take(dys[0], i, axis=attrs.axis)) for i in range(attrs.count)
    ], {}


KIND = LayerKind("stack", build, forward, backward, layouts=(ND,))
