"""Runtime, neural-network layer: the arg-reductions ``argMax`` and ``argMin`` (one build, one
forward).

``ArgMaxLayerParams`` / ``ArgMinLayerParams`` (NeuralNetwork.proto, Core ML 3): the index of
the largest (smallest) value along ``axis`` (negative counts from the end), as a float holding
an integer. The output keeps the input's rank with size 1 on ``axis``, unless ``removeDim``
is set and the input has rank 2 or more, which drops that axis (``(45, 34, 10, 5)`` with
``axis = -3``: ``(45, 1, 10, 5)`` or ``(45, 10, 5)``; a rank-1 input gives ``(1,)`` either
way). Ties go to the first index (numpy's and torch's rule; the proto does not say). NaN is
taken as the largest (and the smallest) value, as numpy does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._nd_axes import array_axis, axis, input_count
from .base import ND, Built, CoreMLShape, LayerKind


@dataclass(frozen=True)
class ArgAttrs:
    op: str  # "argMax" or "argMin"
    axis: int  # array axis of the nd blob
    out: CoreMLShape


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    input_count(layer, in_shapes, 1)
    op = layer.WhichOneof("layer")
    p = getattr(layer, op)
    shape = tuple(in_shapes[0])
    a = axis(layer, p.axis, len(shape))
    if p.removeDim and len(shape) > 1:
        out = shape[:a] + shape[a + 1 :]
    else:
        out = (*shape[:a], 1, *shape[a + 1 :])
    return Built(ArgAttrs(op, array_axis(a), out), {}, [out])


def forward(attrs: ArgAttrs, params, xs, keep=False, out=None):
    """``y = argmax(x, axis)`` (``argmin``), first index on ties."""
    del params, keep, out
    x = xs[0]
    found = (np.argmax if attrs.op == "argMax" else np.argmin)(x, axis=attrs.axis)
    return [np.ascontiguousarray(found.astype(x.dtype).reshape(x.shape[0], *attrs.out))], None


def kind(oneof: str) -> LayerKind:
    """The ``LayerKind`` of ``argMax`` or ``argMin``."""
    return LayerKind(oneof, build, forward, layouts=(ND,))
