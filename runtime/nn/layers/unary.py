"""Runtime, neural-network layer: Core ML ``unary`` layer: an elementwise function of a shifted and
scaled input.

``UnaryFunctionLayerParams`` (NeuralNetwork.proto). First ``x <- scale * x + shift`` (``scale``
defaults to 1 when unset or 0, ``shift`` to 0), then::

    SQRT      sqrt(x)             RSQRT     1 / sqrt(x + epsilon)
    INVERSE   1 / (x + epsilon)   POWER     x ^ alpha
    EXP       exp(x)              LOG       log(x + epsilon)
    ABS       |x|                 THRESHOLD max(alpha, x)

``epsilon`` defaults to 1e-6 when unset or 0. The proto writes ``LOG`` as ``log x``; the
runtime adds ``epsilon`` as for RSQRT and INVERSE because coremltools' builder stores a
dedicated ``epsilon = 1e-45`` for LOG layers (negligible, and it keeps ``log 0`` finite), which
only makes sense if Core ML adds it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import UnsupportedLayerError

from ._common import or_default, where
from .base import CHW, ND, Built, LayerKind, Shape

OPERATIONS = ("SQRT", "RSQRT", "INVERSE", "POWER", "EXP", "LOG", "ABS", "THRESHOLD")


@dataclass(frozen=True)
class UnaryAttrs:
    operation: str
    alpha: float
    epsilon: float
    shift: float
    scale: float


def build(layer, in_shapes: list[Shape]) -> Built:
    p = layer.unary
    if not 0 <= p.type < len(OPERATIONS):
        raise UnsupportedLayerError(
            f"{where(layer)}: unknown unary type {p.type}; expected one of {list(OPERATIONS)}"
        )
    attrs = UnaryAttrs(
        OPERATIONS[p.type],
        float(p.alpha),
        or_default(p.epsilon, 1e-6),
        float(p.shift),
        or_default(p.scale, 1.0),
    )
    return Built(attrs, {}, [in_shapes[0]])


def forward(attrs: UnaryAttrs, params, xs, keep=False, out=None):
    """See the module docstring for the table of functions."""
    del params, keep, out
    t = xs[0].dtype.type
    x = xs[0] * t(attrs.scale) + t(attrs.shift) if (attrs.scale, attrs.shift) != (1, 0) else xs[0]
    op, eps = attrs.operation, t(attrs.epsilon)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if op == "SQRT":
            y = np.sqrt(x)
        elif op == "RSQRT":
            y = 1 / np.sqrt(x + eps)
        elif op == "INVERSE":
            y = 1 / (x + eps)
        elif op == "POWER":
            y = np.power(x, t(attrs.alpha))
        elif op == "EXP":
            y = np.exp(x)
        elif op == "LOG":
            y = np.log(x + eps)
        elif op == "ABS":
            y = np.abs(x)
        else:
            y = np.maximum(x, t(attrs.alpha))
    return [y.astype(xs[0].dtype, copy=False)], None


# elementwise: the same build reads (H, W, C) rows or Core ML shapes alike
KIND = LayerKind("unary", build, forward, layouts=(CHW, ND), build_nd=build)
