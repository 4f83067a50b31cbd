"""Runtime, neural-network layer: Core ML ``split`` layer: cut the channels into ``nOutputs`` equal
parts.

``SplitLayerParams`` (NeuralNetwork.proto): ``[C, H, W]`` gives ``nOutputs`` blobs of
``[C / nOutputs, H, W]``, in channel order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from ._common import expect_inputs, where
from .base import Built, LayerKind, Shape


@dataclass(frozen=True)
class SplitAttrs:
    parts: int


def build(layer, in_shapes: list[Shape]) -> Built:
    expect_inputs(layer, in_shapes)
    height, width, channels = in_shapes[0]
    parts = int(layer.split.nOutputs) or len(layer.output)
    if parts != len(layer.output) or parts < 1 or channels % parts:
        raise ShapeError(
            f"{where(layer)}: cannot split C = {channels} into nOutputs = "
            f"{layer.split.nOutputs} equal parts for {len(layer.output)} outputs"
        )
    return Built(SplitAttrs(parts), {}, [(height, width, channels // parts)] * parts)


def forward(attrs: SplitAttrs, params, xs, keep=False, out=None):
    """``y_i = x[..., i*C/k : (i+1)*C/k]``, each contiguous (or written into ``out[i]``)."""
    del params, keep
    pieces = np.split(xs[0], attrs.parts, axis=-1)
    ys = []
    for i, piece in enumerate(pieces):
        if out is not None and out[i] is not None:
            out[i][...] = piece
            ys.append(out[i])
        else:
            ys.append(np.ascontiguousarray(piece))
    return ys, None


KIND = LayerKind(oneof="split", build=build, forward=forward)
