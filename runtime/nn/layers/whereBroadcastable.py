"""Runtime, neural-network layer: Core ML ``whereBroadcastable``: ``y = x if condition else y``,
elementwise with broadcasting.

``WhereBroadcastableLayerParams`` (NeuralNetwork.proto, Core ML 3): 3 inputs, in order the
condition, ``x`` and ``y``, "first broadcasted to a common shape"; ``output[i..j] =
x[i..j]`` where ``condition[i..j]`` is true, else ``y[i..j]`` (numpy's three-argument
``where``), and ``output.rank = max`` of the inputs' ranks. A condition value is true when it
differs from ``0.0`` (NaN included), as for the logical layers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._nd_axes import input_count
from ._nd_broadcast import aligned, broadcast_shape
from .base import ND, Built, CoreMLShape, LayerKind


@dataclass(frozen=True)
class WhereAttrs:
    rank: int  # the output's rank; inputs are aligned to it


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    input_count(layer, in_shapes, 3)
    out = broadcast_shape(layer, [tuple(s) for s in in_shapes])
    return Built(WhereAttrs(len(out)), {}, [out])


def forward(attrs: WhereAttrs, params, xs, keep=False, out=None):
    """``y = where(condition != 0, x, y)`` over the broadcast shape."""
    del params, keep, out
    condition, a, b = (aligned(x, attrs.rank) for x in xs)
    chosen = np.where(condition != 0, a, b)
    return [np.ascontiguousarray(chosen, dtype=np.result_type(*xs))], None


KIND = LayerKind("whereBroadcastable", build, forward, layouts=(ND,))
