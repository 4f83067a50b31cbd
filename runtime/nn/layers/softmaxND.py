"""Runtime, neural-network layer: Core ML ``softmaxND``: ``y = e^x / sum e^x`` along one axis.

``SoftmaxNDLayerParams`` (NeuralNetwork.proto, Core ML 3): softmax along ``axis``, negative
values counting from the end; the output has the input's shape. Every converted classifier
ends with one (``axis = 1`` or ``-1`` on a rank-2 ``[1, K]`` tensor).

Computed as the legacy ``softmax`` layer is, numerically stable: ``e^(x - max x)`` over the
axis, divided by its sum, accumulated in the blob's dtype, by the same kernel
(``runtime.kernels.softmax``) on rows that hold the axis last; so a ``softmaxND`` over ``[1,
K]`` gives bit for bit what a ``softmax`` over ``[K, 1, 1]`` gives. No backward: Core ML
backpropagates through no softmax except the one feeding a cross-entropy loss, which the
loss computes fused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runtime.kernels import softmax as kernels

from ._nd_axes import array_axis, axis, input_count
from .base import ND, Built, CoreMLShape, LayerKind


@dataclass(frozen=True)
class SoftmaxNDAttrs:
    axis: int  # array axis of the nd blob


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    input_count(layer, in_shapes, 1)
    shape = tuple(in_shapes[0])
    normalised = axis(layer, layer.softmaxND.axis, len(shape))
    return Built(SoftmaxNDAttrs(array_axis(normalised)), {}, [shape])


def forward(attrs: SoftmaxNDAttrs, params, xs, keep=False, out=None):
    """Softmax along the axis: the axis moved last, one kernel row per position."""
    del params, keep, out
    last = np.moveaxis(xs[0], attrs.axis, -1)
    rows = np.ascontiguousarray(last).reshape(-1, last.shape[-1])
    y = np.empty_like(rows)
    kernels.softmax(rows, y)
    return [np.ascontiguousarray(np.moveaxis(y.reshape(last.shape), -1, attrs.axis))], None


KIND = LayerKind("softmaxND", build, forward, layouts=(ND,))
