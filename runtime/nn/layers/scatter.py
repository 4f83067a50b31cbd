"""Runtime, neural-network layer: Core ML ``scatter``: a copy of ``container`` with ``updates``
written (or accumulated) at ``indices`` along an axis, the inverse of ``gather``.

``ScatterLayerParams`` (NeuralNetwork.proto, Core ML 3): 3 inputs, ``container``, ``indices``
and ``updates``; for ``axis = a``::

    output = container
    output[i0..i(a-1), indices[j..], k..]  (op)=  updates[i0..i(a-1), j.., k..]

with ``updates.shape = container.shape[:a] + indices.shape + container.shape[a+1:]`` (the
proto's three examples) and the output shaped like ``container``. ``mode`` is one of the seven
``ScatterMode`` accumulations (UPDATE, ADD, SUB, MUL, DIV, MAX, MIN); repeated indices apply in
row-major order, the last UPDATE winning (``runtime.nn.layers._elementwise_index``). Converted
torch GRUs write each step's state into a zero history with ``SCATTER_ADD``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from updatable.errors import ShapeError

from ._common import where
from ._elementwise_index import grid, integers, scatter_flat, scatter_mode
from ._nd_axes import axis, input_count
from .base import ND, Built, CoreMLShape, LayerKind


@dataclass(frozen=True)
class ScatterAttrs:
    label: str  # the layer, for run-time errors
    container: CoreMLShape
    axis: int  # Core ML axis of the container, normalised
    mode: str  # a ScatterMode name without its prefix


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    input_count(layer, in_shapes, 3)
    container, indices, updates = (tuple(s) for s in in_shapes)
    a = axis(layer, layer.scatter.axis, len(container))
    expected = container[:a] + indices + container[a + 1 :]
    if updates != expected:
        raise ShapeError(
            f"{where(layer)}: updates have shape {list(updates)}; a container of shape "
            f"{list(container)} with indices of shape {list(indices)} along axis {a} needs "
            f"updates of shape {list(expected)}"
        )
    mode = scatter_mode(layer, layer.scatter.mode)
    return Built(ScatterAttrs(where(layer), container, a, mode), {}, [container])


def forward(attrs: ScatterAttrs, params, xs, keep=False, out=None):
    """Every example's container with its updates scattered along the axis."""
    del params, keep, out
    container, indices, updates = xs
    n, shape, a = container.shape[0], attrs.container, attrs.axis
    before, size, after = math.prod(shape[:a]), shape[a], math.prod(shape[a + 1 :])
    count = indices[0].size
    chosen = integers(indices.reshape(n, count), size, attrs.label)
    positions = grid((n, before, count, after), (math.prod(shape), size * after, 0, 1))
    positions = positions + chosen[:, None, :, None] * after
    values = updates.reshape(n, before, count, after)
    return [scatter_flat(container, positions, values, attrs.mode)], None


KIND = LayerKind("scatter", build, forward, layouts=(ND,))
