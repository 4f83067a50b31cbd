"""Runtime, neural-network layer: Core ML ``argSort``: the indices that sort the input along an
axis.

``ArgSortLayerParams`` (NeuralNetwork.proto, iOS 14): ``axis`` and ``descending``; the output
has the input's shape and holds, along ``axis``, the positions of the values in ascending (or
descending) order, as floats holding integers (``[3.1, 5.4, 32.9, 3.2, 77.0]`` gives ``[0, 3,
1, 2, 4]``, descending ``[4, 2, 1, 3, 0]``). The axis must lie in ``[0, rank - 1]``: Core ML's
validator refuses a negative one, and so does the runtime. Equal values keep their order (a
stable sort, in both directions: the lower index first), which the proto leaves open; NaN sorts
last in both directions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from ._common import where
from ._nd_axes import array_axis, axis, input_count
from .base import ND, Built, CoreMLShape, LayerKind


@dataclass(frozen=True)
class ArgSortAttrs:
    axis: int  # array axis of the nd blob
    descending: bool


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    input_count(layer, in_shapes, 1)
    p = layer.argSort
    shape = tuple(in_shapes[0])
    if p.axis < 0:
        raise ShapeError(
            f"{where(layer)}: axis {p.axis} is negative; argSort takes an axis in "
            f"[0, {len(shape) - 1}]"
        )
    a = axis(layer, p.axis, len(shape))
    return Built(ArgSortAttrs(array_axis(a), bool(p.descending)), {}, [shape])


def forward(attrs: ArgSortAttrs, params, xs, keep=False, out=None):
    """Stable ``argsort`` of ``x`` (of ``-x`` when descending) along the axis."""
    del params, keep, out
    x = xs[0]
    keys = -x if attrs.descending else x
    order = np.argsort(keys, axis=attrs.axis, kind="stable")
    return [np.ascontiguousarray(order.astype(x.dtype))], None


KIND = LayerKind("argSort", build, forward, layouts=(ND,))
