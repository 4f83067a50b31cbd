"""Runtime, neural-network layer: Core ML ``clip`` layer: ``y = min(max(x, minVal), maxVal)``
elementwise.

``ClipLayerParams`` (NeuralNetwork.proto, spec 4+). Converters write ReLU6 as ``clip(0, 6)``,
which MobileNet-style networks use after every expansion and depthwise convolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from ._common import where
from .base import CHW, ND, Built, LayerKind, Shape


@dataclass(frozen=True)
class ClipAttrs:
    low: float
    high: float


def build(layer, in_shapes: list[Shape]) -> Built:
    low, high = float(layer.clip.minVal), float(layer.clip.maxVal)
    if low > high:
        raise ShapeError(f"{where(layer)}: minVal {low} is greater than maxVal {high}")
    return Built(ClipAttrs(low, high), {}, [in_shapes[0]])


def forward(attrs: ClipAttrs, params, xs, keep=False, out=None):
    """``y = clip(x, minVal, maxVal)``; writes into ``out`` when given."""
    del params, keep
    t = xs[0].dtype.type
    target = out[0] if out is not None and out[0] is not None else None
    return [np.clip(xs[0], t(attrs.low), t(attrs.high), out=target)], None


# elementwise: the same build reads (H, W, C) rows or Core ML shapes alike
KIND = LayerKind("clip", build, forward, layouts=(CHW, ND), build_nd=build)
