"""Runtime, neural-network layer: Core ML ``batchnorm`` layer: ``y_c = gamma_c (x_c - mu_c) /
sqrt(var_c + eps) + beta_c``.

``BatchnormLayerParams`` (NeuralNetwork.proto): normalisation per channel (axis -3); ``epsilon``
defaults to 1e-5 when 0. With stored statistics the layer is one ``x * scale + shift`` pass
(scale and shift folded at build). With ``computeMeanVar`` and ``instanceNormalization`` the
statistics come from each example (over H, W; biased variance, as in every framework's
instance norm). ``computeMeanVar`` alone (statistics of the whole batch) is refused, as
coremltools refuses to write it ("Batch-instance norm is currently not supported").

Backward: with stored statistics the statistics are constants (Core ML never updates them
during an update task, see docs/update-task-semantics.md), so ``dx = dy * scale``. With computed
statistics the gradient also flows through mean and variance:
``dx = scale (dy - mean(dy) - x_hat mean(dy x_hat))``. Parameter gradients are not computed:
Core ML cannot mark a batchnorm updatable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runtime.kernels import elementwise as ew
from updatable.errors import UnsupportedLayerError

from ._common import or_default, where
from ._fused import rows
from ._weights import float_weights
from .base import Built, LayerKind, Shape


@dataclass(frozen=True)
class BatchnormAttrs:
    channels: int
    epsilon: float
    statistics: str  # "stored" | "instance"


def build(layer, in_shapes: list[Shape]) -> Built:
    p = layer.batchnorm
    shape = tuple(int(v) for v in in_shapes[0])
    channels = shape[2]
    epsilon = or_default(p.epsilon, 1e-5)
    gamma = float_weights(layer, "gamma", p.gamma, channels)
    beta = float_weights(layer, "beta", p.beta, channels)
    if p.computeMeanVar and not p.instanceNormalization:
        raise UnsupportedLayerError(
            f"{where(layer)}: computeMeanVar without instanceNormalization (batch statistics) is "
            "not supported by Core ML tools; supported: stored mean/variance, or "
            "computeMeanVar with instanceNormalization"
        )
    if p.computeMeanVar:
        statistics = "instance"
        params = {"gamma": gamma, "beta": beta}
    else:
        statistics = "stored"
        mean = float_weights(layer, "mean", p.mean, channels)
        variance = float_weights(layer, "variance", p.variance, channels)
        # folded in float64 so the float32 result matches the formula to rounding
        scale = gamma.astype(np.float64) / np.sqrt(variance.astype(np.float64) + epsilon)
        params = {
            "scale": scale.astype(np.float32),
            "shift": (beta - mean.astype(np.float64) * scale).astype(np.float32),
        }
    return Built(BatchnormAttrs(channels, epsilon, statistics), params, [shape])


def forward(attrs: BatchnormAttrs, params, xs, keep=False, out=None):
    """Normalise ``x`` per channel; caches what backward needs when ``keep``."""
    x = xs[0]
    y = out[0] if out is not None and out[0] is not None else np.empty(x.shape, x.dtype)
    if attrs.statistics == "stored":
        ew.scale_shift(rows(np.ascontiguousarray(x)), params["scale"], params["shift"], rows(y))
        return [y], (True if keep else None)
    mean = x.mean(axis=(1, 2), keepdims=True)
    inv_std = 1.0 / np.sqrt(x.var(axis=(1, 2), keepdims=True) + attrs.epsilon)
    x_hat = (x - mean) * inv_std
    y[...] = x_hat * params["gamma"] + params["beta"]
    return [y], ((x_hat, inv_std) if keep else None)


def backward(attrs: BatchnormAttrs, params, cache, dys, *, input_grads=True, param_grads=True):
    """Input gradient only (see the module docstring)."""
    del param_grads
    if not input_grads:
        return [None], {}
    dy = dys[0]
    if attrs.statistics == "stored":
        return [dy * params["scale"]], {}
    x_hat, inv_std = cache
    centred = dy - dy.mean(axis=(1, 2), keepdims=True)
    dx = (centred - x_hat * (dy * x_hat).mean(axis=(1, 2), keepdims=True)) * (
        params["gamma"] * inv_std
    )
    return [dx], {}


KIND = LayerKind(oneof="batchnorm", build=build, forward=forward, backward=backward)
