"""Runtime, neural-network layer: Core ML ``getShape``: the shape of the input tensor as a rank-1
tensor.

``GetShapeLayerParams`` (NeuralNetwork.proto, Core ML 3): "a vector of length R, where R is
the rank of the input tensor". The shape is Core ML's, one example's, never counting the
runtime's example axis; values are floats holding integers, as Core ML keeps every blob.
``shape_only``: the compiler evaluates it whatever the input holds, so the reshapes, slices and
tiles that consume it get static shapes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._nd_axes import input_count
from .base import ND, Built, CoreMLShape, LayerKind


@dataclass(frozen=True)
class GetShapeAttrs:
    shape: CoreMLShape


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    input_count(layer, in_shapes, 1)
    shape = tuple(in_shapes[0])
    return Built(GetShapeAttrs(shape), {}, [(len(shape),)])


def forward(attrs: GetShapeAttrs, params, xs, keep=False, out=None):
    """The shape, once per example."""
    del params, keep, out
    x = xs[0]
    row = np.asarray(attrs.shape, dtype=x.dtype)
    return [np.ascontiguousarray(np.broadcast_to(row, (x.shape[0], len(row))))], None


KIND = LayerKind("getShape", build, forward, layouts=(ND,), shape_only=True)
