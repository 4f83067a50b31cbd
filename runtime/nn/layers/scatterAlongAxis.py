"""Runtime, neural-network layer: Core ML ``scatterAlongAxis``: a copy of ``container`` with
``updates`` written (or accumulated) at indices along one axis (``numpy.put_along_axis``).

``ScatterAlongAxisLayerParams`` (NeuralNetwork.proto, Core ML 3): 3 inputs, ``container``,
``indices`` and ``updates``; ``indices`` and ``updates`` have one shape, the container's except
along ``axis``; for ``axis = 0``::

    output = container
    output[indices[i, j, .., k], j, .., k]  (op)=  updates[i, j, .., k]

The output is shaped like ``container``; ``mode`` is one of the seven ``ScatterMode``
accumulations, repeated targets applying in row-major order with the last UPDATE winning, and
indices are read as ``runtime.nn.layers._elementwise_index`` says.
"""

from __future__ import annotations

from dataclasses import dataclass

from updatable.errors import ShapeError

from ._common import where
from ._elementwise_along import AlongAttrs, check_indices, positions
from ._elementwise_index import scatter_flat, scatter_mode
from ._nd_axes import axis, input_count
from .base import ND, Built, CoreMLShape, LayerKind


@dataclass(frozen=True)
class ScatterAlongAttrs:
    along: AlongAttrs
    mode: str  # a ScatterMode name without its prefix


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    input_count(layer, in_shapes, 3)
    container, indices, updates = (tuple(s) for s in in_shapes)
    p = layer.scatterAlongAxis
    a = axis(layer, p.axis, len(container))
    check_indices(layer, container, indices, a, "indices")
    if updates != indices:
        raise ShapeError(
            f"{where(layer)}: updates have shape {list(updates)}; they must have the shape of "
            f"the indices, {list(indices)}"
        )
    along = AlongAttrs(where(layer), container, indices, a)
    return Built(ScatterAlongAttrs(along, scatter_mode(layer, p.mode)), {}, [container])


def forward(attrs: ScatterAlongAttrs, params, xs, keep=False, out=None):
    """Every example's container with its updates scattered along the axis."""
    del params, keep, out
    container, indices, updates = xs
    flat = positions(attrs.along, indices)
    return [scatter_flat(container, flat, updates, attrs.mode)], None


KIND = LayerKind("scatterAlongAxis", build, forward, layouts=(ND,))
