"""Runtime, neural-network layer: Core ML ``concatND``: join tensors along one axis.

``ConcatNDLayerParams`` (NeuralNetwork.proto, Core ML 3): at least 2 inputs of the same rank,
equal on every axis but ``axis`` (negative values count from the end); the output's ``axis``
is the sum. With ``interleave`` (spec 5) all inputs have the same shape and the output takes
one slice from each in turn (``output[i::k] = x_i`` along the axis, the proto's example).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from ._common import where
from ._nd_axes import array_axis, at_least, axis
from .base import ND, Built, CoreMLShape, LayerKind


@dataclass(frozen=True)
class ConcatNDAttrs:
    axis: int  # array axis
    interleave: bool
    sizes: tuple[int, ...]  # each input's size along the axis


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    at_least(layer, in_shapes, 2)
    shapes = [tuple(s) for s in in_shapes]
    rank = len(shapes[0])
    at = axis(layer, layer.concatND.axis, rank)
    rest = {s[:at] + s[at + 1 :] for s in shapes}
    interleave = bool(layer.concatND.interleave)
    if (
        any(len(s) != rank for s in shapes)
        or len(rest) > 1
        or (interleave and len(set(shapes)) > 1)
    ):
        need = "the same shape (interleave)" if interleave else f"equal sizes except on axis {at}"
        raise ShapeError(
            f"{where(layer)}: inputs of shapes {[list(s) for s in shapes]} cannot be joined; "
            f"they need the same rank and {need}"
        )
    sizes = tuple(s[at] for s in shapes)
    out = (*shapes[0][:at], sum(sizes), *shapes[0][at + 1 :])
    return Built(ConcatNDAttrs(array_axis(at), interleave, sizes), {}, [out])


def forward(attrs: ConcatNDAttrs, params, xs, keep=False, out=None):
    """``numpy.concatenate`` along the axis, or the inputs interleaved slice by slice."""
    del params, keep, out
    if not attrs.interleave:
        return [np.concatenate(xs, axis=attrs.axis)], None
    stacked = np.stack(xs, axis=attrs.axis + 1)  # (..., size, k, ...) -> slices in turn
    shape = list(xs[0].shape)
    shape[attrs.axis] *= len(xs)
    return [np.ascontiguousarray(stacked.reshape(shape))], None


def backward(attrs: ConcatNDAttrs, params, cache, dys, *, input_grads=True, param_grads=True):
    """Each input gets its slice of ``dy``."""
    del params, cache, param_grads
    if not input_grads:
        return [None] * len(attrs.sizes), {}
    dy = dys[0]
    if attrs.interleave:
        k = len(attrs.sizes)
        index = [slice(None)] * dy.ndim
        parts = []
        for i in range(k):
            index[attrs.axis] = slice(i, None, k)
            parts.append(np.ascontiguousarray(dy[tuple(index)]))
        return parts, {}
    cuts = np.cumsum(attrs.sizes)[:-1]
    return [np.ascontiguousarray(p) for p in np.split(dy, cuts, axis=attrs.axis)], {}


KIND = LayerKind("concatND", build, forward, backward, layouts=(ND,))
