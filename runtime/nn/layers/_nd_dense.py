"""Runtime, neural-network layer: a dense product over the trailing axes of an ``nd`` blob,
``y = f(x W + b)``: innerProduct on N-D tensors and batchedMatMul with a weight matrix.

The last ``k`` axes of the input (``k = 1``, or 3 for innerProduct on rank 4 and 5) hold
``C_in`` values in Core ML's row-major order; every other axis is a batch of rows. ``W`` is
``(C_in, C_out)`` (rows in that order) and ``b`` ``(C_out,)``; Core ML stores the same
matrix as ``[C_out, C_in]``: innerProduct row-major, batchedMatMul as the column-major
``[X1, X2]`` (the same floats). Products go through ``runtime.kernels.matmul`` (every element
the same whatever the other rows: a split batch gives the same bits); a fused activation
(``_fused.with_activation``) is applied in the bias epilogue.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from runtime.kernels.matmul import matmul

from ._fused import Activation, activation_grad, epilogue
from .base import CoreMLShape


@dataclass(frozen=True)
class DenseAttrs:
    in_shape: CoreMLShape  # Core ML shape of the input
    out_shape: CoreMLShape
    in_channels: int
    out_channels: int
    activation: str | None = None
    fused: Activation | None = None

    @property
    def blob_channels(self) -> int:
        """Values a fused activation's per-channel parameters would cover (the last axis)."""
        return self.out_channels


def _rows(attrs: DenseAttrs, x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x).reshape(-1, attrs.in_channels)


def forward(attrs: DenseAttrs, params, xs, keep=False, out=None):
    """``y = f(x W + b)`` row by row; caches ``(x, y)`` for backward when ``keep``."""
    del out
    x, w = xs[0], params["W"]
    z = matmul(_rows(attrs, x), w)
    epilogue(z, params.get("b"), attrs.fused, z)
    y = z.reshape(x.shape[0], *attrs.out_shape)
    return [y], ((x, y) if keep else None)


def backward(attrs: DenseAttrs, params, cache, dys, *, input_grads=True, param_grads=True):
    """``dz = dy * f'``; ``dW = x^T dz``, ``db = sum_rows dz``, ``dx = dz W^T``."""
    x, y = cache
    dz = activation_grad(attrs.fused, y, dys[0]).reshape(-1, attrs.out_channels)
    grads = {}
    if param_grads:
        grads["W"] = matmul(_rows(attrs, x).T, np.ascontiguousarray(dz))
        if "b" in params:
            grads["b"] = dz.sum(axis=0)
    dx = None
    if input_grads:
        dx = matmul(np.ascontiguousarray(dz), np.ascontiguousarray(params["W"].T))
        dx = dx.reshape(x.shape)
    return [dx], grads


def export(attrs: DenseAttrs, params) -> dict[str, np.ndarray]:
    """``{"weights": [C_out, C_in], "bias": [C_out]}`` (Core ML's layout; dtype kept)."""
    arrays = {"weights": np.ascontiguousarray(params["W"].T)}
    if "b" in params:
        arrays["bias"] = np.array(params["b"])
    return arrays


def import_(attrs: DenseAttrs, arrays) -> dict[str, np.ndarray]:
    """Core ML ``[C_out, C_in]`` weights (flat or shaped) and bias -> ``{"W", "b"}``."""
    w = np.asarray(arrays["weights"], np.float32).reshape(attrs.out_channels, attrs.in_channels)
    params = {"W": np.ascontiguousarray(w.T)}
    if arrays.get("bias") is not None:
        params["b"] = np.asarray(arrays["bias"], np.float32).reshape(attrs.out_channels).copy()
    return params


def out_shape(in_shape: CoreMLShape, contracted: int, out_channels: int) -> CoreMLShape:
    """The input's leading axes, then ``C_out``, then 1 for each further contracted axis
    (innerProduct: rank 4 ``(x1, C_out, 1, 1)``, rank 5 ``(x1, x2, C_out, 1, 1)``)."""
    lead = tuple(in_shape[: len(in_shape) - contracted])
    return (*lead, out_channels, *([1] * (contracted - 1)))


def contracted_size(in_shape: CoreMLShape, contracted: int) -> int:
    return math.prod(in_shape[len(in_shape) - contracted :])
