"""Runtime, neural-network layer: Core ML ``pooling3d`` layer: max or average over 3-D windows.

``Pooling3DLayerParams`` (NeuralNetwork.proto, Core ML 4): input ``[..., C, D, H, W]`` (rank 5
or more, leading axes batch); kernel and stride per depth, height, width; padding per
``paddingType`` (``runtime.nn.layers._control_window3d``)::

    MAX:      y[c, z, r, s] = max over the window of x
    AVERAGE:  y[c, z, r, s] = sum over the window of x / n

with ``n`` the window's volume ``kD * kH * kW`` (padded zeros count), or, with
``countExcludePadding``, the number of input values inside it. Max pooling never picks a
padded position (the proto calls ``countExcludePadding`` "meaningless in Max Pooling", which
holds only if padding never wins a maximum; it is torch's ``MaxPool3d`` rule too).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError, UnsupportedLayerError

from ._common import where
from ._control_window3d import Window3D, patches, positive, window
from .base import ND, Built, CoreMLShape, LayerKind

TYPES = {0: "MAX", 1: "AVERAGE"}  # Pooling3DLayerParams.PoolingType3D


@dataclass(frozen=True)
class Pooling3DAttrs:
    type: str
    window: Window3D
    exclude_padding: bool


def rank5(layer, in_shapes) -> tuple[int, ...]:
    """The one input's shape, rank 5 or more (``[..., C, D, H, W]``)."""
    if len(in_shapes) != 1 or len(in_shapes[0]) < 5:
        raise ShapeError(
            f"{where(layer)}: takes 1 input of rank 5 or more [..., C, D, H, W]; "
            f"got shapes {[list(s) for s in in_shapes]}"
        )
    return tuple(in_shapes[0])


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    shape = rank5(layer, in_shapes)
    params = layer.pooling3d
    kind = TYPES.get(int(params.type))
    if kind is None:
        raise UnsupportedLayerError(
            f"{where(layer)}: unknown pooling type {params.type}; "
            f"expected one of {list(TYPES.values())}"
        )
    kernel = positive(
        layer, (params.kernelDepth, params.kernelHeight, params.kernelWidth), "kernel sizes"
    )
    stride = positive(
        layer, (params.strideDepth, params.strideHeight, params.strideWidth), "strides"
    )
    win = window(layer, params, shape[-3:], kernel, stride)
    attrs = Pooling3DAttrs(kind, win, bool(params.countExcludePadding))
    return Built(attrs, {}, [(*shape[:-3], *win.out)])


def forward(attrs: Pooling3DAttrs, params, xs, keep=False, out=None):
    """Max or mean over each window (module docstring)."""
    del params, keep, out
    x = xs[0]
    lead, spatial = x.shape[:-3], x.shape[-3:]
    x = x.reshape(-1, 1, *spatial)  # every channel alone
    if attrs.type == "MAX":
        y = patches(x, attrs.window, fill=-np.inf).max(axis=(-3, -2, -1))
    else:
        y = patches(x, attrs.window).sum(axis=(-3, -2, -1))
        if attrs.exclude_padding:
            y = y / patches(np.ones((1, 1, *spatial), x.dtype), attrs.window).sum(axis=(-3, -2, -1))
        else:
            y = y / np.prod(attrs.window.kernel)
    return [np.ascontiguousarray(y.reshape(*lead, *attrs.window.out), dtype=x.dtype)], None


KIND = LayerKind("pooling3d", build, forward, layouts=(ND,))
