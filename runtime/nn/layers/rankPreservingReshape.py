"""Runtime, neural-network layer: Core ML ``rankPreservingReshape``: a reshape that keeps the
rank.

``RankPreservingReshapeLayerParams`` (NeuralNetwork.proto, Core ML 3): ``targetShape`` has one
entry per axis; ``0`` keeps that axis of the input, at most one ``-1`` takes the size the
others leave (the proto's examples: ``(20, 10)`` with ``(5, -1)`` -> ``(5, 40)``; ``(10, 3,
5)`` with ``(25, 0, -1)`` -> ``(25, 3, 2)``). Values keep their row-major order: a view.
"""

from __future__ import annotations

from updatable.errors import ShapeError

from ._common import where
from ._nd_axes import input_count, target_shape
from ._nd_reshape import ReshapeAttrs, backward, forward
from .base import ND, Built, CoreMLShape, LayerKind


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    input_count(layer, in_shapes, 1)
    shape = tuple(in_shapes[0])
    target = [int(d) for d in layer.rankPreservingReshape.targetShape]
    if len(target) != len(shape):
        raise ShapeError(
            f"{where(layer)}: targetShape {target} has {len(target)} entries; the input of "
            f"shape {list(shape)} has rank {len(shape)}, which the layer keeps"
        )
    kept = [size if d == 0 else d for d, size in zip(target, shape, strict=True)]
    out = target_shape(layer, kept, shape)
    return Built(ReshapeAttrs(shape, out), {}, [out])


KIND = LayerKind("rankPreservingReshape", build, forward, backward, layouts=(ND,))
