"""Runtime, neural-network layer: Core ML ``cumSum``: running sums along an axis.

``CumSumLayerParams`` (NeuralNetwork.proto, iOS 14): 1 or 2 inputs; the axis is ``axis``
(negative counts from the end), or the value of the second input when there is one. For ``[4,
6, 7]``::

    excludeFinalSum  reverse   output
    False            False     [4, 10, 17]     y_i = x_0 + .. + x_i
    True             False     [0, 4, 10]      y_i = x_0 + .. + x_(i-1)
    False            True      [17, 13, 7]     y_i = x_i + .. + x_last
    True             True      [13, 7, 0]      y_i = x_(i+1) + .. + x_last

The output has the input's shape; sums accumulate in order along the axis, in the blob's dtype.
An axis computed from a model input is refused at load (``_elementwise_values``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._elementwise_values import scalar_from
from ._nd_axes import array_axis, axis, input_count
from .base import ND, Built, CoreMLShape, LayerKind


@dataclass(frozen=True)
class CumSumAttrs:
    axis: int  # array axis of the nd blob
    exclusive: bool
    reverse: bool


def build(layer, in_shapes: list[CoreMLShape], values) -> Built:
    input_count(layer, in_shapes, 1, 2)
    p = layer.cumSum
    shape = tuple(in_shapes[0])
    wanted = p.axis if len(in_shapes) == 1 else scalar_from(layer, values[1], "second input")
    a = axis(layer, int(wanted), len(shape))
    attrs = CumSumAttrs(array_axis(a), bool(p.excludeFinalSum), bool(p.reverse))
    return Built(attrs, {}, [shape])


def forward(attrs: CumSumAttrs, params, xs, keep=False, out=None):
    """Running sums along the axis (see the table in the module docstring)."""
    del params, keep, out
    x = xs[0]
    source = np.flip(x, attrs.axis) if attrs.reverse else x
    sums = np.cumsum(source, axis=attrs.axis, dtype=x.dtype)
    if attrs.exclusive:
        sums = np.roll(sums, 1, axis=attrs.axis)
        first = [slice(None)] * x.ndim
        first[attrs.axis] = slice(0, 1)
        sums[tuple(first)] = 0
    y = np.flip(sums, attrs.axis) if attrs.reverse else sums
    return [np.ascontiguousarray(y)], None


KIND = LayerKind("cumSum", build, forward, layouts=(ND,), value_inputs=(1,))
