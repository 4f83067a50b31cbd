"""Runtime, neural-network layer: Core ML ``reverse``: the input with the order of chosen axes
reversed (``numpy.flip``).

``ReverseLayerParams`` (NeuralNetwork.proto, Core ML 3): ``reverseDim``, one flag per axis of
the input ("Requires len(reverseDim) == rank(inputTensor)"): every axis whose flag is set is
reversed; the output has the input's shape. A ``reverseDim`` of another length is refused at
load, as Core ML's validator refuses it when it knows the rank.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from ._common import where
from ._nd_axes import array_axis, input_count
from .base import ND, Built, CoreMLShape, LayerKind


@dataclass(frozen=True)
class ReverseAttrs:
    axes: tuple[int, ...]  # array axes reversed


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    input_count(layer, in_shapes, 1)
    shape = tuple(in_shapes[0])
    flags = [bool(f) for f in layer.reverse.reverseDim]
    if len(flags) != len(shape):
        raise ShapeError(
            f"{where(layer)}: reverseDim has {len(flags)} flags; the input of shape "
            f"{list(shape)} needs one per axis ({len(shape)})"
        )
    axes = tuple(array_axis(a) for a, flag in enumerate(flags) if flag)
    return Built(ReverseAttrs(axes), {}, [shape])


def forward(attrs: ReverseAttrs, params, xs, keep=False, out=None):
    """``y = flip(x, axes)``."""
    del params, keep, out
    return [np.ascontiguousarray(np.flip(xs[0], attrs.axes))], None


KIND = LayerKind("reverse", build, forward, layouts=(ND,))
