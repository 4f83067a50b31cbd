"""Runtime, neural-network layer: Core ML ``fillDynamic``: a constant tensor whose shape is the
value of the input.

``FillDynamicLayerParams`` (NeuralNetwork.proto, Core ML 3): 1 input, a rank-1 tensor holding
the output's shape, and ``value``; ``y = value`` everywhere. The shape must be known when the
model loads (computed from constants or ``getShape``, see
``runtime.nn.layers._elementwise_values``); positive whole sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._elementwise_values import shape_from
from ._nd_axes import input_count
from .base import ND, Built, CoreMLShape, LayerKind


@dataclass(frozen=True)
class FillDynamicAttrs:
    value: float
    shape: CoreMLShape


def build(layer, in_shapes: list[CoreMLShape], values) -> Built:
    input_count(layer, in_shapes, 1)
    shape = shape_from(layer, values[0], "input (the output shape)")
    return Built(FillDynamicAttrs(float(layer.fillDynamic.value), shape), {}, [shape])


def forward(attrs: FillDynamicAttrs, params, xs, keep=False, out=None):
    """``y = value`` in the shape, one tensor per example, in the input's dtype."""
    del params, keep, out
    x = xs[0]
    return [np.full((x.shape[0], *attrs.shape), attrs.value, dtype=x.dtype)], None


KIND = LayerKind("fillDynamic", build, forward, layouts=(ND,), value_inputs=(0,))
