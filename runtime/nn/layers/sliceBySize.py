"""Runtime, neural-network layer: Core ML ``sliceBySize``: ``size`` consecutive entries of one axis
from a start read from the second input.

``SliceBySizeLayerParams`` (NeuralNetwork.proto, Core ML 3): 2 inputs, the tensor and
``begin``; the output is ``x[..., begin : begin + size, ...]`` on ``axis`` (negative values
count from the end) and keeps the rank. Only the shape is static: each example reads its own
``begin`` (a float holding an integer, negative counting from the end of the axis); a start
that leaves fewer than ``size`` entries is an error naming the layer when it runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from ._common import where
from ._nd_axes import array_axis, axis, input_count
from .base import ND, Built, CoreMLShape, LayerKind


@dataclass(frozen=True)
class SliceBySizeAttrs:
    layer: str  # names the layer in run-time errors
    axis: int  # array axis
    size: int
    length: int  # the axis's size in the input


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    input_count(layer, in_shapes, 2)
    shape = tuple(in_shapes[0])
    at = axis(layer, layer.sliceBySize.axis, len(shape))
    size = int(layer.sliceBySize.size)
    if not 1 <= size <= shape[at]:
        raise ShapeError(
            f"{where(layer)}: size {size} must be between 1 and {shape[at]}, the size of axis "
            f"{at} of the input of shape {list(shape)}"
        )
    if int(np.prod(in_shapes[1])) != 1:
        raise ShapeError(
            f"{where(layer)}: the second input (begin) must hold one value; its shape is "
            f"{list(in_shapes[1])}"
        )
    attrs = SliceBySizeAttrs(where(layer), array_axis(at), size, shape[at])
    return Built(attrs, {}, [(*shape[:at], size, *shape[at + 1 :])])


def forward(attrs: SliceBySizeAttrs, params, xs, keep=False, out=None):
    """Each example's ``size`` entries from its own ``begin``, gathered along the axis."""
    del params, keep, out
    x, begin = xs[0], np.rint(xs[1].reshape(len(xs[1]), -1)[:, 0]).astype(np.int64)
    begin = np.where(begin < 0, begin + attrs.length, begin)
    bad = (begin < 0) | (begin + attrs.size > attrs.length)
    if bad.any():
        raise ShapeError(
            f"{attrs.layer}: begin {int(xs[1].reshape(len(xs[1]), -1)[bad.argmax(), 0])} leaves "
            f"fewer than size = {attrs.size} entries on an axis of {attrs.length}"
        )
    shape = [1] * x.ndim
    shape[0], shape[attrs.axis] = len(begin), attrs.size
    index = (begin[:, None] + np.arange(attrs.size)).reshape(shape)
    index = np.broadcast_to(
        index, (x.shape[0], *x.shape[1 : attrs.axis], attrs.size, *x.shape[attrs.axis + 1 :])
    )
    return [np.take_along_axis(x, index, axis=attrs.axis)], None


KIND = LayerKind("sliceBySize", build, forward, layouts=(ND,))
