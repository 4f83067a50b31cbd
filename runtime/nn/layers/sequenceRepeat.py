"""Runtime, neural-network layer: Core ML ``sequenceRepeat``: the sequence axis repeated.

``SequenceRepeatLayerParams`` (NeuralNetwork.proto): for an input of rank 5 or more, ``[Seq,
B, C, H, W]``, the output is ``[nRepetitions * Seq, B, C, H, W]``; ``nRepetitions`` 0 means
1. The proto says the layer "repeats a sequence": read as the whole sequence repeated,
``x_1 .. x_Seq, x_1 .. x_Seq, ...`` (numpy's ``tile``, not ``repeat``). The Keras converter
used it for ``RepeatVector``, whose input has ``Seq = 1``, where both readings agree.

Runs in either layout: the axis is ``-5`` of the Core ML shape, a leading axis that ``chw``
folds into its rows, and tiling it moves whole rows. No backward: Core ML does not
backpropagate through it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from ._common import where
from ._nd_axes import input_count
from .base import CHW, ND, Built, CoreMLShape, LayerKind, Shape, core_ml_shape


@dataclass(frozen=True)
class SequenceRepeatAttrs:
    lead: tuple[int, ...]  # the axes in front of [C, H, W] (Seq is lead[-2])
    layout: str
    out_shape: CoreMLShape
    repetitions: int


def _built(layer, shape: CoreMLShape, layout: str) -> Built:
    if len(shape) < 5:
        raise ShapeError(
            f"{where(layer)}: the input must have rank 5 or more ([Seq, B, C, H, W]); got "
            f"{list(shape)}"
        )
    repetitions = int(layer.sequenceRepeat.nRepetitions) or 1
    out = (*shape[:-5], shape[-5] * repetitions, *shape[-4:])
    attrs = SequenceRepeatAttrs(shape[:-3], layout, out, repetitions)
    if layout == ND:
        return Built(attrs, {}, [out])
    row = (out[-2], out[-1], out[-3])  # the rows keep (H, W, C); the sequence grows
    return Built(attrs, {}, [row], core_ml_shapes=[out])


def build(layer, in_shapes: list[Shape]) -> Built:
    """The ``chw`` build: a row ``(H, W, C)`` with its Core ML shape (a bare row is read as
    ``[1, 1, C, H, W]``)."""
    input_count(layer, in_shapes, 1)
    height, width, channels = in_shapes[0]
    return _built(layer, core_ml_shape(in_shapes[0]) or (1, 1, channels, height, width), CHW)


def build_nd(layer, in_shapes: list[CoreMLShape]) -> Built:
    input_count(layer, in_shapes, 1)
    return _built(layer, tuple(in_shapes[0]), ND)


def forward(attrs: SequenceRepeatAttrs, params, xs, keep=False, out=None):
    """``y = tile(x)`` along the sequence axis, in the blob's own layout."""
    del params, keep, out
    x = xs[0]
    # both layouts hold an example's leading axes in row-major order ahead of its [C, H, W]
    # values (chw folds them into its rows), so one grouping covers both
    grouped = x.reshape(-1, *attrs.lead, int(np.prod(x.shape[-3:])))
    reps = [1] * grouped.ndim
    reps[len(attrs.lead) - 1] = attrs.repetitions  # axis -5 of the Core ML shape
    tiled = np.tile(grouped, reps)
    if attrs.layout == CHW:
        return [tiled.reshape(-1, *x.shape[1:])], None
    return [tiled.reshape(x.shape[0], *attrs.out_shape)], None


KIND = LayerKind("sequenceRepeat", build, forward, layouts=(CHW, ND), build_nd=build_nd)
