"""Runtime, neural-network layer: Core ML ``gather``: slices of ``data`` at ``indices`` along an
axis (``numpy.take``).

``GatherLayerParams`` (NeuralNetwork.proto, Core ML 3): 2 inputs, ``data`` and ``indices``;
for ``axis = a``::

    output[i0..i(a-1), j.., k..] = data[i0..i(a-1), indices[j..], k..]

so ``output.shape = data.shape[:a] + indices.shape + data.shape[a+1:]`` (rank ``data.rank - 1
+ indices.rank``). Negative ``axis`` and negative indices count from the end. Indices are read
as ``runtime.nn.layers._elementwise_index`` says (float values truncated; an index out of range
is refused when the prediction runs). Converted torch GRUs read one time step of a sequence
with it (``[13, 1, 24]`` at indices ``[1]``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ._common import where
from ._elementwise_index import gather_flat, grid, integers
from ._nd_axes import axis, input_count
from .base import ND, Built, CoreMLShape, LayerKind


@dataclass(frozen=True)
class GatherAttrs:
    label: str  # the layer, for run-time errors
    data: CoreMLShape
    axis: int  # Core ML axis of data, normalised
    out: CoreMLShape


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    input_count(layer, in_shapes, 2)
    data, indices = (tuple(s) for s in in_shapes)
    a = axis(layer, layer.gather.axis, len(data))
    out = data[:a] + indices + data[a + 1 :]
    return Built(GatherAttrs(where(layer), data, a, out), {}, [out])


def forward(attrs: GatherAttrs, params, xs, keep=False, out=None):
    """``y[n] = take(data[n], indices[n], axis)`` for every example ``n``."""
    del params, keep, out
    data, indices = xs
    n, shape, a = data.shape[0], attrs.data, attrs.axis
    before, size, after = math.prod(shape[:a]), shape[a], math.prod(shape[a + 1 :])
    count = indices[0].size
    chosen = integers(indices.reshape(n, count), size, attrs.label)
    positions = grid((n, before, count, after), (math.prod(shape), size * after, 0, 1))
    positions = positions + chosen[:, None, :, None] * after
    return [gather_flat(data, positions).reshape(n, *attrs.out)], None


KIND = LayerKind("gather", build, forward, layouts=(ND,))
