"""Runtime, neural-network layer: Core ML ``flatten`` layer: ``[C, H, W]`` -> ``[C*H*W, 1, 1]``.

``FlattenLayerParams`` (NeuralNetwork.proto): ``CHANNEL_FIRST`` keeps Core ML's row-major
``(c, h, w)`` element order, ``CHANNEL_LAST`` orders the elements ``(h, w, c)``. A runtime blob
is NHWC, so ``CHANNEL_LAST`` is a free reshape and ``CHANNEL_FIRST`` a transpose
``(N, H, W, C) -> (N, C, H, W)`` before the reshape (free too when ``H = W = 1``).
Backward applies the inverse permutation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import UnsupportedLayerError

from ._common import where
from ._fused import view_as
from .base import Built, LayerKind, Shape

MODES = ("CHANNEL_FIRST", "CHANNEL_LAST")  # FlattenLayerParams.FlattenOrder, in enum order


@dataclass(frozen=True)
class FlattenAttrs:
    mode: str
    in_shape: Shape


def build(layer, in_shapes: list[Shape]) -> Built:
    if not 0 <= layer.flatten.mode < len(MODES):
        raise UnsupportedLayerError(
            f"{where(layer)}: unknown flatten mode "
            f"{layer.flatten.mode}; expected one of {list(MODES)}"
        )
    height, width, channels = (int(v) for v in in_shapes[0])
    shape = (height, width, channels)
    attrs = FlattenAttrs(MODES[layer.flatten.mode], shape)
    return Built(attrs, {}, [(1, 1, shape[0] * shape[1] * shape[2])])


def _ordered(attrs: FlattenAttrs, x: np.ndarray) -> np.ndarray:
    """``x`` viewed in the output's element order (a view, never a copy)."""
    return x.transpose(0, 3, 1, 2) if attrs.mode == "CHANNEL_FIRST" else x


def forward(attrs: FlattenAttrs, params, xs, keep=False, out=None):
    """``y[n, 0, 0, :]`` = the example's elements in ``mode`` order."""
    del params, keep
    x = xs[0]
    n = x.shape[0]
    if out is not None and out[0] is not None:
        y = out[0]
        h, w, c = attrs.in_shape
        split = (n, c, h, w) if attrs.mode == "CHANNEL_FIRST" else (n, h, w, c)
        view_as(y, split)[...] = _ordered(attrs, x)  # one copy into the output slice
        return [y], None
    return [np.ascontiguousarray(_ordered(attrs, x)).reshape(n, 1, 1, -1)], None


def backward(attrs: FlattenAttrs, params, cache, dys, *, input_grads=True, param_grads=True):
    """The inverse permutation of ``dy`` back to ``(N, H, W, C)``."""
    del params, cache, param_grads
    if not input_grads:
        return [None], {}
    n = dys[0].shape[0]
    h, w, c = attrs.in_shape
    if attrs.mode == "CHANNEL_FIRST":
        dx = dys[0].reshape(n, c, h, w).transpose(0, 2, 3, 1)
    else:
        dx = dys[0].reshape(n, h, w, c)
    return [np.ascontiguousarray(dx)], {}


KIND = LayerKind(oneof="flatten", build=build, forward=forward, backward=backward)
