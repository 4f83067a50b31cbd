"""Runtime, neural-network layer: Core ML ``oneHot``: each index becomes a vector of ``offValue``
with ``onValue`` at that index.

``OneHotLayerParams`` (NeuralNetwork.proto, iOS 14): 1 or 2 inputs; the depth is
``oneHotVectorSize``, or the value of the second input when there is one. The output has rank
one more than the input, the new axis of size depth at ``axis`` (counted in the output; negative
from its end): input ``(10, 23)``, depth 32, ``axis = 1`` gives ``(10, 32, 23)``. At index
``i`` of the new axis the output is ``onValue`` where the input holds ``i`` and ``offValue``
elsewhere; an input outside ``[0, depth - 1]`` (``-1`` included, the proto's example) gives a
vector of ``offValue`` only. Input values are truncated toward zero, as every index read by
the runtime (``runtime.nn.layers._elementwise_index``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from ._common import where
from ._elementwise_values import check_count, scalar_from
from ._nd_axes import array_axis, axis, input_count
from .base import ND, Built, CoreMLShape, LayerKind


@dataclass(frozen=True)
class OneHotAttrs:
    axis: int  # array axis of the new axis in the output
    depth: int
    on: float
    off: float


def build(layer, in_shapes: list[CoreMLShape], values) -> Built:
    input_count(layer, in_shapes, 1, 2)
    p = layer.oneHot
    shape = tuple(in_shapes[0])
    if len(in_shapes) == 1:
        depth = float(p.oneHotVectorSize)
    else:
        depth = scalar_from(layer, values[1], "second input (the one-hot vector size)")
    if depth != int(depth) or depth < 1:
        raise ShapeError(
            f"{where(layer)}: the one-hot vector size must be a positive whole number; "
            f"got {depth:g}"
        )
    a = axis(layer, p.axis, len(shape) + 1)
    out = (*shape[:a], int(depth), *shape[a:])
    check_count(layer, math.prod(out), "the one-hot output")
    attrs = OneHotAttrs(array_axis(a), int(depth), float(p.onValue), float(p.offValue))
    return Built(attrs, {}, [out])


def forward(attrs: OneHotAttrs, params, xs, keep=False, out=None):
    """``y[.., i, ..] = onValue if trunc(x[..]) == i else offValue``."""
    del params, keep, out
    x = xs[0]
    t = x.dtype.type
    whole = np.trunc(np.where(np.isfinite(x), x, -1))
    positions = np.arange(attrs.depth, dtype=x.dtype).reshape(
        [attrs.depth if d == attrs.axis else 1 for d in range(x.ndim + 1)]
    )
    hit = np.expand_dims(whole, attrs.axis) == positions
    return [np.where(hit, t(attrs.on), t(attrs.off)).astype(x.dtype)], None


KIND = LayerKind("oneHot", build, forward, layouts=(ND,), value_inputs=(1,))
