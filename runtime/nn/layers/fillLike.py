"""Runtime, neural-network layer: Core ML ``fillLike``: a tensor of the input's shape holding one
constant value.

``FillLikeLayerParams`` (NeuralNetwork.proto, Core ML 3): 1 input, whose values are ignored
("only the shape is used"), and ``value``; ``y = value`` everywhere. The kind is
``shape_only``: the compiler knows its output whatever the input holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._nd_axes import input_count
from .base import ND, Built, CoreMLShape, LayerKind


@dataclass(frozen=True)
class FillAttrs:
    value: float


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    input_count(layer, in_shapes, 1)
    return Built(FillAttrs(float(layer.fillLike.value)), {}, [tuple(in_shapes[0])])


def forward(attrs: FillAttrs, params, xs, keep=False, out=None):
    """``y = value`` in the input's shape and dtype."""
    del params, keep, out
    return [np.full_like(xs[0], attrs.value)], None


KIND = LayerKind("fillLike", build, forward, layouts=(ND,), shape_only=True)
