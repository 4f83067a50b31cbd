"""Runtime, neural-network layer: Core ML ``reduce`` layer: reduce each example over C, H, W, HW or
CHW, keeping the axes.

``ReduceLayerParams`` (NeuralNetwork.proto); the output has size 1 on the reduced axes::

    SUM sum(x)      AVG mean(x)       PROD prod(x)     LOGSUM sum(log(x + epsilon))
    SUMSQUARE sum(x^2)   L1 sum(|x|)  L2 sqrt(sum(x^2))  MAX max(x)   MIN min(x)
    ARGMAX  index of the first maximum (C, H or W only), as a float

``epsilon`` (LOGSUM only) defaults to 1e-6 when unset or 0. coremltools' layer tests check the
layer against the same numpy expressions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError, UnsupportedLayerError

from ._common import expect_inputs, or_default, where
from .base import Built, LayerKind, Shape

MODES = ("SUM", "AVG", "PROD", "LOGSUM", "SUMSQUARE", "L1", "L2", "MAX", "MIN", "ARGMAX")
# ReduceLayerParams.ReduceAxis -> (name, runtime axes of (N, H, W, C))
AXES = {0: ("CHW", (1, 2, 3)), 1: ("HW", (1, 2)), 2: ("C", (3,)), 3: ("H", (1,)), 4: ("W", (2,))}


@dataclass(frozen=True)
class ReduceAttrs:
    mode: str
    axes: tuple[int, ...]
    epsilon: float


def build(layer, in_shapes: list[Shape]) -> Built:
    expect_inputs(layer, in_shapes)
    p = layer.reduce
    if not 0 <= p.mode < len(MODES) or p.axis not in AXES:
        raise UnsupportedLayerError(
            f"{where(layer)}: unknown mode {p.mode} or axis {p.axis}; modes are {list(MODES)}, "
            f"axes {[name for name, _ in AXES.values()]}"
        )
    mode, (axis_name, axes) = MODES[p.mode], AXES[p.axis]
    if mode == "ARGMAX" and len(axes) != 1:
        raise ShapeError(f"{where(layer)}: ARGMAX reduces one axis (C, H or W); got {axis_name}")
    out_shape = tuple(
        1 if runtime_axis in axes else size
        for runtime_axis, size in zip((1, 2, 3), in_shapes[0], strict=True)
    )
    return Built(ReduceAttrs(mode, axes, or_default(p.epsilon, 1e-6)), {}, [out_shape])


def forward(attrs: ReduceAttrs, params, xs, keep=False, out=None):
    """See the module docstring for the table of reductions."""
    del params, keep, out
    x, axes, mode = xs[0], attrs.axes, attrs.mode
    if mode == "ARGMAX":
        y = np.expand_dims(np.argmax(x, axis=axes[0]), axes[0]).astype(x.dtype)
    elif mode == "LOGSUM":
        y = np.sum(np.log(x + x.dtype.type(attrs.epsilon)), axis=axes, keepdims=True)
    elif mode in ("SUMSQUARE", "L2"):
        y = np.sum(x * x, axis=axes, keepdims=True)
        y = np.sqrt(y) if mode == "L2" else y
    else:
        function = {
            "SUM": np.sum,
            "AVG": np.mean,
            "PROD": np.prod,
            "L1": None,
            "MAX": np.max,
            "MIN": np.min,
        }[mode]
        y = (
            np.sum(np.abs(x), axis=axes, keepdims=True)
            if function is None
            else function(x, axis=axes, keepdims=True)
        )
    return [np.ascontiguousarray(y, dtype=x.dtype)], None


KIND = LayerKind(oneof="reduce", build=build, forward=forward)
