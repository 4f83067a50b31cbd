"""Runtime, neural-network layer: Core ML ``crop`` layer: cut a window out of H and W.

``CropLayerParams`` (NeuralNetwork.proto). With one input the window drops ``cropAmounts``
(``[H, W]`` edge pairs) from each border: ``y = x[:, top:H-bottom, left:W-right]``. With two
inputs the second gives only the output size ``(H2, W2)`` and ``offset = [h, w]`` places the
window: ``y = x1[:, h:h+H2, w:w+W2]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from ._common import expect_inputs, where
from .base import Built, LayerKind, Shape
from .padding import border_amounts


@dataclass(frozen=True)
class CropAttrs:
    rows: tuple[int, int]  # [start, stop) along H
    cols: tuple[int, int]  # [start, stop) along W


def build(layer, in_shapes: list[Shape]) -> Built:
    expect_inputs(layer, in_shapes, 1, 2)
    height, width, channels = in_shapes[0]
    if len(in_shapes) == 2:
        offset = [int(v) for v in layer.crop.offset] or [0, 0]
        if len(offset) != 2:
            raise ShapeError(f"{where(layer)}: offset must be [h, w]; got {offset}")
        out_h, out_w = in_shapes[1][:2]
        rows, cols = (offset[0], offset[0] + out_h), (offset[1], offset[1] + out_w)
    elif len(in_shapes) == 1:
        (top, bottom), (left, right) = border_amounts(layer, layer.crop.cropAmounts, "cropAmounts")
        rows, cols = (top, height - bottom), (left, width - right)
    else:
        raise ShapeError(f"{where(layer)}: takes 1 or 2 inputs; got {len(in_shapes)}")
    if not (0 <= rows[0] < rows[1] <= height and 0 <= cols[0] < cols[1] <= width):
        raise ShapeError(
            f"{where(layer)}: the window rows {rows[0]}..{rows[1]}, columns {cols[0]}..{cols[1]} "
            f"does not fit inside the input's H = {height}, W = {width}"
        )
    out_shape = (rows[1] - rows[0], cols[1] - cols[0], channels)
    return Built(CropAttrs(rows, cols), {}, [out_shape])


def forward(attrs: CropAttrs, params, xs, keep=False, out=None):
    """``y = x[:, rows, cols]`` (the second input, if any, only sized the window)."""
    del params, keep, out
    window = xs[0][:, attrs.rows[0] : attrs.rows[1], attrs.cols[0] : attrs.cols[1]]
    return [np.ascontiguousarray(window)], None


KIND = LayerKind(oneof="crop", build=build, forward=forward)
