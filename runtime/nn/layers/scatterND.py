"""Runtime, neural-network layer: Core ML ``scatterND``: a copy of ``container`` with ``updates``
written (or accumulated) at multi-indices, the inverse of ``gatherND``.

``ScatterNDLayerParams`` (NeuralNetwork.proto, Core ML 3): 3 inputs, ``container``,
``indices`` of shape ``[I0, .., I(K-1), R]`` and ``updates`` of shape ``indices.shape[:-1] +
container.shape[R:]``::

    output = container
    output[indices[i..j, 0], .., indices[i..j, R-1], :..]  (op)=  updates[i..j, :..]

The output is shaped like ``container``; ``mode`` is one of the seven ``ScatterMode``
accumulations, repeated points applying in row-major order with the last UPDATE winning, and
coordinates are read as ``runtime.nn.layers._elementwise_index`` says.
"""

from __future__ import annotations

from dataclasses import dataclass

from updatable.errors import ShapeError

from ._common import where
from ._elementwise_index import integers, scatter_flat, scatter_mode
from ._elementwise_multi import Points, points, positions
from ._nd_axes import input_count
from .base import ND, Built, CoreMLShape, LayerKind


@dataclass(frozen=True)
class ScatterNDAttrs:
    label: str  # the layer, for run-time errors
    points: Points
    mode: str  # a ScatterMode name without its prefix


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    input_count(layer, in_shapes, 3)
    container, indices, updates = (tuple(s) for s in in_shapes)
    found = points(layer, container, indices)
    expected = indices[:-1] + container[found.depth :]
    if updates != expected and not (expected == () and updates == (1,)):
        raise ShapeError(
            f"{where(layer)}: updates have shape {list(updates)}; a container of shape "
            f"{list(container)} with indices of shape {list(indices)} needs updates of shape "
            f"{list(expected)}"
        )
    mode = scatter_mode(layer, layer.scatterND.mode)
    return Built(ScatterNDAttrs(where(layer), found, mode), {}, [container])


def forward(attrs: ScatterNDAttrs, params, xs, keep=False, out=None):
    """Every example's container with its updates scattered at its points."""
    del params, keep, out
    container, indices, updates = xs
    flat = positions(attrs.points, indices, lambda v, s: integers(v, s, attrs.label))
    values = updates.reshape(flat.shape)
    return [scatter_flat(container, flat, values, attrs.mode)], None


KIND = LayerKind("scatterND", build, forward, layouts=(ND,))
