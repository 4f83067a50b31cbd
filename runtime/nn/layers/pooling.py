"""Runtime, neural-network layer: Core ML ``pooling`` layer: max, average or L2 pooling over
spatial windows, or global.

``PoolingLayerParams`` (NeuralNetwork.proto): kernel and stride default to ``[3, 3]`` and
``[1, 1]``; padding is ``valid`` (explicit amounts), ``same`` (asymmetric split) or
``includeLastPixel`` (Caffe's ceil-mode rule), see ``runtime.nn.layers._window``; average pooling
divides by the window's padded area unless ``avgPoolExcludePadding`` (then by the number of
input pixels in the window); ``globalPooling`` pools the whole input to ``1 x 1``. Max pooling
ignores padded positions; L2 pooling is ``sqrt(sum x^2)``. Kernels: ``runtime.kernels.pool``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runtime.kernels import pool as kernels
from updatable.errors import UnsupportedLayerError

from ._common import where
from ._fused import Activation, activation_vectors
from ._window import Window, pool_window
from .base import Built, LayerKind, Shape

TYPES = ("MAX", "AVERAGE", "L2")  # PoolingLayerParams.PoolingType values, in enum order


@dataclass(frozen=True)
class PoolingAttrs:
    type: str
    window: Window
    in_shape: Shape
    exclude_padding: bool
    # a producer's deferred bias (params["b"]) and activation, applied after MAX pooling
    # (runtime.nn.epilogues); only execution plans set it, and they never keep caches
    epilogue: bool = False
    activation: Activation | None = None


def build(layer, in_shapes: list[Shape]) -> Built:
    p = layer.pooling
    if not 0 <= p.type < len(TYPES):
        raise UnsupportedLayerError(
            f"{where(layer)}: unknown pooling type {p.type}; expected one of {list(TYPES)}"
        )
    height, width, channels = (int(v) for v in in_shapes[0])
    shape = (height, width, channels)
    window = pool_window(layer, p, (height, width))
    attrs = PoolingAttrs(TYPES[p.type], window, shape, bool(p.avgPoolExcludePadding))
    return Built(attrs, {}, [(*window.out_hw, shape[2])])


def _geometry(window: Window) -> tuple[int, ...]:
    return (*window.kernel, *window.stride, window.pads[0], window.pads[2])


def forward(attrs: PoolingAttrs, params, xs, keep=False, out=None):
    """Pool ``x`` into ``out[0]`` (when given) or a new array; caches for backward."""
    x, window = xs[0], attrs.window
    shape = (x.shape[0], *window.out_hw, x.shape[3])
    y = out[0] if out is not None and out[0] is not None else np.empty(shape, x.dtype)
    if attrs.epilogue:
        if keep:
            raise UnsupportedLayerError("a pooling with a deferred epilogue runs forward only")
        alpha, beta, code = activation_vectors(attrs.activation, x.shape[3], x.dtype)
        kernels.max_pool_bias_activation(x, *_geometry(window), params["b"], code, alpha, beta, y)
        return [y], None
    if attrs.type == "MAX":
        argmax = np.empty(shape if keep else (0, 0, 0, 0), np.int64)
        kernels.max_pool(x, *_geometry(window), y, argmax)
        return [y], ((x.shape, argmax) if keep else None)
    if attrs.type == "AVERAGE":
        kernels.avg_pool(
            x, *_geometry(window), window.pads[1], window.pads[3], attrs.exclude_padding, y
        )
        return [y], (x.shape if keep else None)
    kernels.l2_pool(x, *_geometry(window), y)
    return [y], ((x, y) if keep else None)


def backward(attrs: PoolingAttrs, params, cache, dys, *, input_grads=True, param_grads=True):
    """Max: route ``dy`` to each window's winner; average: spread ``dy / divisor`` over the
    window; L2: ``dy * x / y``. No parameters."""
    del params, param_grads
    if not input_grads:
        return [None], {}
    dy, window = np.ascontiguousarray(dys[0]), attrs.window
    if attrs.type == "MAX":
        x_shape, argmax = cache
        dx = np.zeros(x_shape, dy.dtype)
        kernels.max_pool_grad(dy, argmax, dx)
    elif attrs.type == "AVERAGE":
        dx = np.zeros(cache, dy.dtype)
        kernels.avg_pool_grad(
            dy, *_geometry(window), window.pads[1], window.pads[3], attrs.exclude_padding, dx
        )
    else:
        x, y = cache
        dx = np.zeros(x.shape, dy.dtype)
        kernels.l2_pool_grad(x, y, dy, *_geometry(window), dx)
    return [dx], {}


KIND = LayerKind(oneof="pooling", build=build, forward=forward, backward=backward)
