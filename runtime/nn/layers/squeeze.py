"""Runtime, neural-network layer: Core ML ``squeeze`` and ``expandDims``: remove or insert axes of
size 1.

``SqueezeLayerParams`` (``axes``, ``squeezeAll``) and ``ExpandDimsLayerParams`` (``axes``) in
NeuralNetwork.proto, Core ML 3. Both count axes over the tensor's rank, negative axes from the
end: squeeze over the input's rank, expandDims over the output's (``(10, 5)`` with axes
``(-2, -1)`` becomes ``(10, 5, 1, 1)``). Neither moves a value: an ``nd`` blob keeps its
memory and only its shape changes, so both are free.

Rules, each refusal naming the layer: axes distinct and in range; a squeezed axis must have
size 1 (as Core ML refuses); ``squeezeAll`` drops every axis of size 1. A tensor never loses
its last axis: squeezing ``(1,)``, or every axis of an all-ones tensor, gives ``(1,)`` (the
proto's example: input ``(1,)``, axes ``(0)``, output ``(1,)``).
"""

from __future__ import annotations

from updatable.errors import ShapeError

from ._common import where
from ._nd_axes import axes
from ._nd_reshape import ReshapeAttrs, backward, forward
from .base import ND, Built, CoreMLShape, LayerKind


def squeezed(layer, shape: CoreMLShape) -> CoreMLShape:
    """The output shape of a ``squeeze`` layer for an input of ``shape``."""
    p = layer.squeeze
    if p.squeezeAll:
        return tuple(d for d in shape if d != 1) or (1,)
    if not p.axes:
        raise ShapeError(f"{where(layer)}: no axes to squeeze and squeezeAll is false")
    removed = axes(layer, p.axes, len(shape))
    for axis in removed:
        if shape[axis] != 1:
            raise ShapeError(
                f"{where(layer)}: cannot squeeze axis {axis} of the input of shape "
                f"{list(shape)}: its size is {shape[axis]}, not 1"
            )
    return tuple(d for i, d in enumerate(shape) if i not in removed) or (1,)


def expanded(layer, shape: CoreMLShape) -> CoreMLShape:
    """The output shape of an ``expandDims`` layer for an input of ``shape``."""
    added = layer.expandDims.axes
    if not added:
        raise ShapeError(f"{where(layer)}: no axes to insert")
    inserted = axes(layer, added, len(shape) + len(added))
    values = iter(shape)
    return tuple(1 if i in inserted else next(values) for i in range(len(shape) + len(added)))


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    shape = tuple(in_shapes[0])
    which = layer.WhichOneof("layer")
    out = squeezed(layer, shape) if which == "squeeze" else expanded(layer, shape)
    return Built(ReshapeAttrs(shape, out), {}, [out])


SQUEEZE = LayerKind("squeeze", build, forward, backward, layouts=(ND,))
EXPAND_DIMS = LayerKind("expandDims", build, forward, backward, layouts=(ND,))
KIND = SQUEEZE
