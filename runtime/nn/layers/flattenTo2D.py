"""Runtime, neural-network layer: Core ML ``flattenTo2D``: a rank-2 view ``(prod(x[:axis]),
prod(x[axis:]))``.

``FlattenTo2DLayerParams`` (NeuralNetwork.proto, Core ML 3): ``axis`` splits the axes, the
first part exclusive; negative values count from the end, and ``axis`` may equal the rank (the
proto's examples: ``(3,)`` with axis ``-1`` -> ``(1, 3)``, with axis ``1`` -> ``(3, 1)``;
``(5, 5, 3)`` with axis ``-2`` -> ``(5, 15)``). Values keep their row-major order: a view.
"""

from __future__ import annotations

import math

from updatable.errors import ShapeError

from ._common import where
from ._nd_axes import input_count
from ._nd_reshape import ReshapeAttrs, backward, forward
from .base import ND, Built, CoreMLShape, LayerKind


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    input_count(layer, in_shapes, 1)
    shape = tuple(in_shapes[0])
    rank, axis = len(shape), int(layer.flattenTo2D.axis)
    if not -rank <= axis <= rank:
        raise ShapeError(
            f"{where(layer)}: axis {axis} is out of range for a tensor of rank {rank}; expected "
            f"a value in [-{rank}, {rank}]"
        )
    axis = axis + rank if axis < 0 else axis
    out = (math.prod(shape[:axis]), math.prod(shape[axis:]))
    return Built(ReshapeAttrs(shape, out), {}, [out])


KIND = LayerKind("flattenTo2D", build, forward, backward, layouts=(ND,))
