"""Runtime, neural-network layer: Core ML ``topK``: the ``K`` largest (or smallest) values along an
axis, and their indices.

``TopKLayerParams`` (NeuralNetwork.proto, Core ML 3): 1 or 2 inputs, 2 outputs. ``K`` is the
parameter, or the value of the second input when there is one (a scalar); ``axis`` may be
negative; ``useBottomK`` picks the smallest values. Both outputs have the input's shape with
``K`` on ``axis``: the values, largest first (smallest first for bottom K), and their indices
as floats holding integers. Equal values come in index order (a stable sort; the proto leaves
ties open); NaN counts as the largest value for top K and is never among bottom K unless
needed. ``K`` must lie in ``[1, size of axis]``; a ``K`` computed from a model input is
refused at load (the output shape would depend on data, see
``runtime.nn.layers._elementwise_values``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from ._common import where
from ._elementwise_values import scalar_from
from ._nd_axes import array_axis, axis, input_count
from .base import ND, Built, CoreMLShape, LayerKind


@dataclass(frozen=True)
class TopKAttrs:
    axis: int  # array axis of the nd blob
    k: int
    bottom: bool


def build(layer, in_shapes: list[CoreMLShape], values) -> Built:
    input_count(layer, in_shapes, 1, 2)
    p = layer.topK
    shape = tuple(in_shapes[0])
    a = axis(layer, p.axis, len(shape))
    k = int(p.K) if len(in_shapes) == 1 else scalar_from(layer, values[1], "second input (K)")
    if k != int(k) or not 1 <= k <= shape[a]:
        raise ShapeError(
            f"{where(layer)}: K = {k} must be a whole number in [1, {shape[a]}], the size of "
            f"axis {a} of the input of shape {list(shape)}"
        )
    out = (*shape[:a], int(k), *shape[a + 1 :])
    return Built(TopKAttrs(array_axis(a), int(k), bool(p.useBottomK)), {}, [out, out])


def forward(attrs: TopKAttrs, params, xs, keep=False, out=None):
    """``indices = argsort(-x)[:K]`` (``argsort(x)`` for bottom K), ``values = x[indices]``."""
    del params, keep, out
    x = xs[0]
    keys = x if attrs.bottom else np.where(np.isnan(x), -np.inf, -x)
    order = np.argsort(keys, axis=attrs.axis, kind="stable")
    chosen = np.take(order, np.arange(attrs.k), axis=attrs.axis)
    found = np.take_along_axis(x, chosen, axis=attrs.axis)
    return [np.ascontiguousarray(found), np.ascontiguousarray(chosen.astype(x.dtype))], None


KIND = LayerKind("topK", build, forward, layouts=(ND,), value_inputs=(1,))
