"""Runtime, neural-network layer: Core ML ``reorganizeData`` layer: move values between the
channel axis and blocks of the spatial axes.

``ReorganizeDataLayerParams`` (NeuralNetwork.proto): input of rank 3 or more, the axes before
``[C, H, W]`` treated as batch; ``blockSize`` ``b`` > 1 (Core ML's validator). With ``C =
b * b * C'`` channels on the deep side, the three modes, as the proto's worked example
orders the channels:

* ``DEPTH_TO_SPACE``: ``y[c, h*b + i, w*b + j] = x[(i*b + j) * C' + c, h, w]`` (TensorFlow's
  ``depth_to_space``);
* ``PIXEL_SHUFFLE``: ``y[c, h*b + i, w*b + j] = x[c*b*b + i*b + j, h, w]`` (torch's
  ``pixel_shuffle``; spec 5);
* ``SPACE_TO_DEPTH``: the inverse of ``DEPTH_TO_SPACE``: ``y[(i*b + j) * C + c, h, w] =
  x[c, h*b + i, w*b + j]``; ``b`` must divide H and W.

A reshape and a transpose of the channels-last rows, no arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError, UnsupportedLayerError

from ._common import where
from .base import Built, LayerKind, Shape

MODES = {0: "SPACE_TO_DEPTH", 1: "DEPTH_TO_SPACE", 2: "PIXEL_SHUFFLE"}


@dataclass(frozen=True)
class ReorganizeAttrs:
    mode: str
    block: int


def build(layer, in_shapes: list[Shape]) -> Built:
    if len(in_shapes) != 1:
        raise ShapeError(f"{where(layer)}: takes 1 input; got {len(in_shapes)}")
    params = layer.reorganizeData
    mode, block = MODES.get(int(params.mode)), int(params.blockSize)
    if mode is None:
        raise UnsupportedLayerError(
            f"{where(layer)}: unknown mode {params.mode}; expected one of {list(MODES.values())}"
        )
    if block < 2:
        raise ShapeError(f"{where(layer)}: blockSize must be > 1; got {block}")
    height, width, channels = in_shapes[0]
    if mode == "SPACE_TO_DEPTH":
        if height % block or width % block:
            raise ShapeError(
                f"{where(layer)}: blockSize {block} must divide H = {height} and W = {width}"
            )
        out = (height // block, width // block, channels * block * block)
    else:
        if channels % (block * block):
            raise ShapeError(
                f"{where(layer)}: blockSize² = {block * block} must divide the "
                f"channels C = {channels}"
            )
        out = (height * block, width * block, channels // (block * block))
    return Built(ReorganizeAttrs(mode, block), {}, [out])


def forward(attrs: ReorganizeAttrs, params, xs, keep=False, out=None):
    """The reshape-transpose of each mode on ``(M, H, W, C)`` rows (module docstring)."""
    del params, keep, out
    x, b = xs[0], attrs.block
    rows, height, width, channels = x.shape
    if attrs.mode == "SPACE_TO_DEPTH":  # (h, i, w, j, c) -> (h, w, i, j, c)
        blocks = x.reshape(rows, height // b, b, width // b, b, channels)
        y = blocks.transpose(0, 1, 3, 2, 4, 5).reshape(rows, height // b, width // b, -1)
    elif attrs.mode == "DEPTH_TO_SPACE":  # channel (i, j, c) -> (h, i, w, j, c)
        blocks = x.reshape(rows, height, width, b, b, channels // (b * b))
        y = blocks.transpose(0, 1, 3, 2, 4, 5).reshape(rows, height * b, width * b, -1)
    else:  # channel (c, i, j) -> (h, i, w, j, c)
        blocks = x.reshape(rows, height, width, channels // (b * b), b, b)
        y = blocks.transpose(0, 1, 4, 2, 5, 3).reshape(rows, height * b, width * b, -1)
    return [np.ascontiguousarray(y)], None


KIND = LayerKind("reorganizeData", build, forward)
