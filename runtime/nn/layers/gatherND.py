"""Runtime, neural-network layer: Core ML ``gatherND``: slices of ``params`` at multi-indices.

``GatherNDLayerParams`` (NeuralNetwork.proto, Core ML 3): 2 inputs, ``params`` and
``indices`` of shape ``[I0, .., I(K-1), R]``, read as ``I0 * .. * I(K-1)`` points of ``R``
coordinates (``R <= params.rank``)::

    output[i..j, :..] = params[indices[i..j, 0], .., indices[i..j, R-1], :..]

so ``output.shape = indices.shape[:-1] + params.shape[R:]`` (rank ``indices.rank - 1 +
params.rank - R``). Each coordinate is read against its own axis (negative values count from
its end; out of range is refused when the prediction runs, see
``runtime.nn.layers._elementwise_index``). A point covering every axis (``R = params.rank``)
gathers single values; the proto's ``(3, 3, 3, 4, 7)`` with ``(3, 5)`` indices gives ``(3,)``,
and one point of rank-1 indices gives ``(1,)`` (Core ML has no rank-0 tensor).
"""

from __future__ import annotations

from dataclasses import dataclass

from ._common import where
from ._elementwise_index import gather_flat, integers
from ._elementwise_multi import Points, points, positions
from ._nd_axes import input_count
from .base import ND, Built, CoreMLShape, LayerKind


@dataclass(frozen=True)
class GatherNDAttrs:
    label: str  # the layer, for run-time errors
    points: Points
    out: CoreMLShape


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    input_count(layer, in_shapes, 2)
    data, indices = (tuple(s) for s in in_shapes)
    found = points(layer, data, indices)
    out = indices[:-1] + data[found.depth :] or (1,)  # one value is a tensor of shape (1,)
    return Built(GatherNDAttrs(where(layer), found, out), {}, [out])


def forward(attrs: GatherNDAttrs, params, xs, keep=False, out=None):
    """``y[n] = data[n][indices[n]]`` for every example ``n``, point by point."""
    del params, keep, out
    data, indices = xs
    flat = positions(attrs.points, indices, lambda v, s: integers(v, s, attrs.label))
    return [gather_flat(data, flat).reshape(data.shape[0], *attrs.out)], None


KIND = LayerKind("gatherND", build, forward, layouts=(ND,))
