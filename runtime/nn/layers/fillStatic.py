"""Runtime, neural-network layer: Core ML ``fillStatic``: a constant tensor of a given shape, with
no input.

``FillStaticLayerParams`` (NeuralNetwork.proto, Core ML 3): ``targetShape`` (required, as Core
ML's validator says; positive sizes) and ``value``; ``y = value`` everywhere. Like every
kind without inputs, forward makes one example and the graph repeats it to the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._elementwise_values import positive_shape
from ._nd_axes import input_count
from .base import ND, Built, CoreMLShape, LayerKind


@dataclass(frozen=True)
class FillStaticAttrs:
    value: float
    shape: CoreMLShape


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    input_count(layer, in_shapes, 0)
    p = layer.fillStatic
    shape = positive_shape(layer, p.targetShape, "targetShape")
    return Built(FillStaticAttrs(float(p.value), shape), {}, [shape])


def forward(attrs: FillStaticAttrs, params, xs, keep=False, out=None):
    """One example ``(1, *targetShape)`` of ``value`` (float32, the blobs' type)."""
    del params, xs, keep, out
    return [np.full((1, *attrs.shape), attrs.value, dtype=np.float32)], None


KIND = LayerKind("fillStatic", build, forward, layouts=(ND,))
