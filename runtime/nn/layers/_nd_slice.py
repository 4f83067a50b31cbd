"""Runtime, neural-network layer: strided slices of N-D tensors, shared by ``sliceStatic`` and
``sliceDynamic``.

The rules of ``SliceStaticLayerParams`` (NeuralNetwork.proto, Core ML 3), one entry per axis:
``x[begin:end:stride]`` with Python's semantics (negative indices and strides count from the
end); a set ``beginMask`` ignores ``begin`` and a set ``endMask`` ignores ``end``, which then
mean "from the first element in the direction of the stride" and "through the last" (for a
negative stride, from the last element down to the first: the proto's "assumed to be 0 /
-1" read for either sign, as numpy's omitted bounds); a set ``squeezeMask`` keeps only
element ``begin`` and drops the axis. A stride of 0, or a slice with no element, is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from ._common import where
from .base import CoreMLShape


@dataclass(frozen=True)
class SliceAttrs:
    index: tuple  # one slice or int per Core ML axis
    in_shape: CoreMLShape
    inputs: int = 1


@dataclass(frozen=True)
class Bounds:
    """One entry per axis of the input (each list as long as the rank)."""

    begin: list[int]
    end: list[int]
    strides: list[int]
    begin_masks: list[bool]
    end_masks: list[bool]
    squeeze_masks: list[bool]


def _entry(layer, axis: int, size: int, bounds: Bounds):
    begin, stride = bounds.begin[axis], bounds.strides[axis]
    if bounds.squeeze_masks[axis]:
        if not -size <= begin < size:
            raise ShapeError(
                f"{where(layer)}: squeezes axis {axis} at index {begin}, outside its size {size}"
            )
        return begin + size if begin < 0 else begin
    if stride == 0:
        raise ShapeError(f"{where(layer)}: the stride of axis {axis} is 0")
    start = None if bounds.begin_masks[axis] else begin
    stop = None if bounds.end_masks[axis] else bounds.end[axis]
    return slice(start, stop, stride)


def build_slice(layer, shape: CoreMLShape, bounds: Bounds, inputs: int = 1):
    """``(SliceAttrs, output shape)``; every list of ``bounds`` must have ``len(shape)``
    entries (missing masks count as unset)."""
    rank = len(shape)
    lengths = {k: len(v) for k, v in vars(bounds).items() if v}
    if any(n != rank for n in lengths.values()) or len(bounds.begin) != rank:
        raise ShapeError(
            f"{where(layer)}: needs one entry per axis of the input of shape {list(shape)}; "
            f"got lengths {lengths}"
        )
    index, out = [], []
    for axis, size in enumerate(shape):
        entry = _entry(layer, axis, size, bounds)
        index.append(entry)
        if isinstance(entry, slice):
            length = len(range(*entry.indices(size)))
            if length == 0:
                raise ShapeError(
                    f"{where(layer)}: the slice {entry.start}:{entry.stop}:{entry.step} of axis "
                    f"{axis} (size {size}) is empty"
                )
            out.append(length)
    return SliceAttrs(tuple(index), tuple(shape), inputs), tuple(out) or (1,)


def masks(values, rank: int) -> list[bool]:
    """A repeated bool field (unset: all False)."""
    return [bool(v) for v in values] if len(values) else [False] * rank


def forward(attrs: SliceAttrs, params, xs, keep=False, out=None):
    """``y[n] = x[n][index]``, contiguous (an all-squeezed slice keeps one axis of 1)."""
    del params, keep, out
    x = xs[0]
    y = x[(slice(None), *attrs.index)]
    return [np.ascontiguousarray(y.reshape(x.shape[0], -1) if y.ndim == 1 else y)], None


def backward(attrs: SliceAttrs, params, cache, dys, *, input_grads=True, param_grads=True):
    """``dx`` = zeros with ``dy`` written at the sliced positions."""
    del params, cache, param_grads
    if not input_grads:
        return [None] * attrs.inputs, {}
    dy = dys[0]
    dx = np.zeros((dy.shape[0], *attrs.in_shape), dy.dtype)
    target = dx[(slice(None), *attrs.index)]
    dx[(slice(None), *attrs.index)] = dy.reshape(target.shape)
    return [dx] + [None] * (attrs.inputs - 1), {}
