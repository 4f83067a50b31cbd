"""Runtime, neural-network layer: Core ML ``slice`` layer: keep ``[startIndex:endIndex:stride]`` of
one axis (C, H or W).

``SliceLayerParams`` (NeuralNetwork.proto): Python slicing semantics, ``endIndex`` exclusive,
negative indices count from the end (-1 is the last element, so ``endIndex = -1`` drops it);
``stride`` must be positive (unset means 1). coremltools' own layer tests check the layer
against ``x[start:end:stride]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from ._common import expect_inputs, where
from .base import Built, LayerKind, Shape

# SliceLayerParams.SliceAxis -> (name, runtime axis of (N, H, W, C), index into Shape)
AXES = {0: ("CHANNEL", 3, 2), 1: ("HEIGHT", 1, 0), 2: ("WIDTH", 2, 1)}


@dataclass(frozen=True)
class SliceAttrs:
    axis: int  # runtime axis
    start: int
    stop: int
    stride: int


def build(layer, in_shapes: list[Shape]) -> Built:
    expect_inputs(layer, in_shapes)
    p = layer.slice
    if p.axis not in AXES:
        raise ShapeError(f"{where(layer)}: unknown axis {p.axis}; expected CHANNEL, HEIGHT, WIDTH")
    name, axis, shape_index = AXES[p.axis]
    size = in_shapes[0][shape_index]
    start, stop, stride = slice(int(p.startIndex), int(p.endIndex), int(p.stride) or 1).indices(
        size
    )
    length = len(range(start, stop, stride))
    if length < 1:
        raise ShapeError(
            f"{where(layer)}: [{p.startIndex}:{p.endIndex}:{p.stride or 1}] of the {name} axis "
            f"(size {size}) is empty"
        )
    out_shape = list(in_shapes[0])
    out_shape[shape_index] = length
    return Built(SliceAttrs(axis, start, stop, stride), {}, [tuple(out_shape)])


def forward(attrs: SliceAttrs, params, xs, keep=False, out=None):
    """``y = x[start:stop:stride]`` along the sliced axis, contiguous."""
    del params, keep, out
    index = [slice(None)] * 4
    index[attrs.axis] = slice(attrs.start, attrs.stop, attrs.stride)
    return [np.ascontiguousarray(xs[0][tuple(index)])], None


KIND = LayerKind(oneof="slice", build=build, forward=forward)
