"""Runtime, neural-network layer: Core ML ``loadConstant`` layer: a constant ``[C, H, W]`` blob,
with no input.

``LoadConstantLayerParams`` (NeuralNetwork.proto): ``shape`` is ``[C, H, W]`` and ``data``
holds ``C * H * W`` values in that order. The forward pass returns one example,
``(1, H, W, C)``; the graph repeats it along the batch axis to the batch size of the run.
"""

from __future__ import annotations

from updatable.errors import ShapeError

from ._common import weight_array, where
from .base import Built, LayerKind, Shape


def build(layer, in_shapes: list[Shape]) -> Built:
    del in_shapes
    shape = [int(d) for d in layer.loadConstant.shape]
    if len(shape) != 3 or min(shape) < 1:
        raise ShapeError(f"{where(layer)}: shape must be [C, H, W] of positive sizes; got {shape}")
    channels, height, width = shape
    values = weight_array(layer, "data", layer.loadConstant.data, channels * height * width)
    constant = values.reshape(channels, height, width).transpose(1, 2, 0)[None].copy()
    return Built(None, {"data": constant}, [(height, width, channels)])


def forward(attrs, params, xs, keep=False, out=None):
    """``y = data`` as one example ``(1, H, W, C)``."""
    del attrs, xs, keep, out
    return [params["data"]], None


KIND = LayerKind(oneof="loadConstant", build=build, forward=forward)
