"""Runtime, neural-network layer: innerProduct on ``chw`` blobs (``runtime.nn.layers.innerProduct``
builds it): the ``C*H*W`` rule with ``W`` rows in NHWC order, and the last-axis rule of rank-3
tensors.

``W`` is ``(H*W*C, C_out)`` for the ``C*H*W`` rule (Core ML's ``(c, h, w)`` columns permuted to
NHWC rows once, so ``y = x.reshape(N, -1) @ W`` reads the blob in place) and ``(C_in, C_out)``
for the last-axis rule; ``b`` is ``(C_out,)``; products through ``runtime.kernels.matmul``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runtime.kernels.conv import workspace
from runtime.kernels.matmul import matmul
from updatable.errors import ShapeError

from ._fused import Activation, activation_grad, epilogue, rows
from .base import Shape


@dataclass(frozen=True)
class InnerProductAttrs:
    in_shape: Shape  # (H, W, C)
    in_channels: int
    out_channels: int
    last_axis: bool  # rank 2/3 rule: contract W only
    activation: str | None = None
    fused: Activation | None = None

    @property
    def blob_channels(self) -> int:
        """Channels of the output blob (what a fused activation's parameters cover)."""
        return self.in_shape[2] if self.last_axis else self.out_channels


def export(attrs: InnerProductAttrs, params) -> dict[str, np.ndarray]:
    """Runtime parameters -> ``{"weights": [C_out, C_in], "bias": [C_out]}`` in Core ML layout
    (dtype kept)."""
    w = params["W"]
    if not attrs.last_axis:  # rows (h, w, c) -> Core ML columns (c, h, w)
        w = w.reshape(*attrs.in_shape, -1).transpose(2, 0, 1, 3).reshape(attrs.in_channels, -1)
    arrays = {"weights": np.ascontiguousarray(w.T)}
    if "b" in params:
        arrays["bias"] = np.array(params["b"])
    return arrays


def import_(attrs: InnerProductAttrs, arrays) -> dict[str, np.ndarray]:
    """Core ML ``[C_out, C_in]`` weights (flat or shaped) and bias -> runtime ``{"W", "b"}``."""
    w = np.asarray(arrays["weights"], np.float32).reshape(attrs.out_channels, attrs.in_channels)
    if not attrs.last_axis:  # Core ML columns (c, h, w) -> rows (h, w, c)
        height, width, channels = attrs.in_shape
        w = w.reshape(-1, channels, height, width).transpose(0, 2, 3, 1).reshape(w.shape)
    params = {"W": np.ascontiguousarray(w.reshape(attrs.out_channels, -1).T)}
    if arrays.get("bias") is not None:
        params["b"] = np.asarray(arrays["bias"], np.float32).reshape(attrs.out_channels).copy()
    return params


def _rows(attrs: InnerProductAttrs, a: np.ndarray) -> np.ndarray:
    """A blob as the matrix the layer contracts: ``(N, H*W*C)``, or ``(N*H*C, W)``."""
    if attrs.last_axis:
        return np.swapaxes(a, 2, 3).reshape(-1, a.shape[2])
    return np.ascontiguousarray(a).reshape(a.shape[0], -1)


def _blob(attrs: InnerProductAttrs, matrix: np.ndarray, n: int) -> np.ndarray:
    """Inverse of ``_rows`` for a matrix with any number of columns."""
    if attrs.last_axis:
        height, _, channels = attrs.in_shape
        return np.swapaxes(matrix.reshape(n, height, channels, -1), 2, 3)
    return matrix.reshape(n, 1, 1, -1)


def forward(attrs: InnerProductAttrs, params, xs, keep=False, out=None):
    """``y = f(x W + b)``; caches ``(x, y)`` for backward when ``keep``."""
    x, w, b = xs[0], params["W"], params.get("b")
    if x.shape[1:] != attrs.in_shape:
        raise ShapeError(f"innerProduct expects (N, *{attrs.in_shape}) inputs; got {x.shape}")
    given = out[0] if out is not None else None
    if attrs.last_axis:  # bias runs along the contracted axis, the activation along C
        z = matmul(_rows(attrs, x), w)
        epilogue(z, b, None, z)
        y = np.ascontiguousarray(_blob(attrs, z, x.shape[0]))
        if attrs.fused is not None:
            epilogue(rows(y), None, attrs.fused, rows(y))
        if given is not None:
            given[...] = y
            y = given
    else:
        shape = (x.shape[0], 1, 1, attrs.out_channels)
        y = given if given is not None else np.empty(shape, np.result_type(x, w))
        z = y if y.flags.c_contiguous else workspace("dense_z", y.shape, y.dtype)
        matmul(_rows(attrs, x), w, rows(z))
        epilogue(rows(z), b, attrs.fused, rows(y))
    return [y], ((x, y) if keep else None)


def backward(attrs: InnerProductAttrs, params, cache, dys, *, input_grads=True, param_grads=True):
    """``dz = dy * f'``; ``dW = x^T dz``, ``db = sum_rows dz``, ``dx = dz W^T``."""
    x, y = cache
    dz = _rows(attrs, activation_grad(attrs.fused, y, dys[0]))
    grads = {}
    if param_grads:
        grads["W"] = matmul(_rows(attrs, x).T, dz)
        if "b" in params:
            grads["b"] = dz.sum(axis=0)
    dx = None
    if input_grads:
        dx = np.ascontiguousarray(_blob(attrs, matmul(dz, params["W"].T), x.shape[0]))
        dx = dx.reshape(x.shape)
    return [dx], grads
