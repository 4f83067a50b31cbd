"""Per-channel elementwise kernels on ``(rows, C)`` views: bias + activation epilogues,
activation derivatives and batchnorm's scale + shift.

Every kernel takes 2-D arrays whose last axis is the channel axis (an NHWC blob seen as
``(N*H*W, C)``), reads ``x`` and writes ``out``; ``out`` may be ``x`` itself (in place) or a
strided channel slice of a larger buffer (concat outputs written in place).

Activation formulas are Core ML's (``NeuralNetwork.proto``, ``ActivationParams``); ``alpha`` and
``beta`` are per-channel arrays of length C (scalar parameters are broadcast by the caller).
"""

from __future__ import annotations

import math

import numpy as np

from runtime._jit import njit

# Activation codes (kernel-level ids of the ``ActivationParams.NonlinearityType`` cases).
IDENTITY = 0
RELU = 1
LEAKY_RELU = 2
THRESHOLDED_RELU = 3
PRELU = 4
TANH = 5
SCALED_TANH = 6
SIGMOID = 7
SIGMOID_HARD = 8
ELU = 9
SOFTSIGN = 10
SOFTPLUS = 11
PARAMETRIC_SOFTPLUS = 12
LINEAR = 13

# Activations whose derivative ``activation_grad`` computes from the output alone; they are
# also the only activations Core ML can backpropagate through (coreml-format.md §2.4).
DIFFERENTIABLE = (IDENTITY, RELU, SIGMOID, TANH)


@njit
def _softplus(v):
    # log(1 + e^v) without overflow for large v
    if v > 0.0:
        return v + math.log1p(math.exp(-v))
    return math.log1p(math.exp(v))


@njit
def _activate(v, code, a, b):
    if code == RELU:
        return v if v > 0.0 else 0.0 * v
    if code == LEAKY_RELU or code == PRELU:
        return v if v >= 0.0 else a * v
    if code == THRESHOLDED_RELU:
        return v if v >= a else 0.0 * v
    if code == TANH:
        return math.tanh(v)
    if code == SCALED_TANH:
        return a * math.tanh(b * v)
    if code == SIGMOID:
        # split by sign so exp never overflows
        if v >= 0.0:
            return 1.0 / (1.0 + math.exp(-v))
        e = math.exp(v)
        return e / (1.0 + e)
    if code == SIGMOID_HARD:
        return min(max(a * v + b, 0.0), 1.0)
    if code == ELU:
        return v if v >= 0.0 else a * math.expm1(v)
    if code == SOFTSIGN:
        return v / (1.0 + abs(v))
    if code == SOFTPLUS:
        return _softplus(v)
    if code == PARAMETRIC_SOFTPLUS:
        return a * _softplus(b * v)
    if code == LINEAR:
        return a * v + b
    return v


@njit
def bias_activation(z, bias, code, alpha, beta, out):
    """``out[r, c] = f(z[r, c] + bias[c])`` with f the activation ``code``."""
    rows, channels = z.shape
    if code == IDENTITY:
        for r in range(rows):
            for c in range(channels):
                out[r, c] = z[r, c] + bias[c]
    elif code == RELU:
        for r in range(rows):
            for c in range(channels):
                out[r, c] = max(z[r, c] + bias[c], 0.0)
    else:
        for r in range(rows):
            for c in range(channels):
                out[r, c] = _activate(z[r, c] + bias[c], code, alpha[c], beta[c])


@njit
def activation_grad(y, dy, code, dz):
    """``dz = dy * f'(x)`` written from the activation output ``y`` (ReLU, sigmoid, tanh).

    ReLU: ``y > 0``; sigmoid: ``y (1 - y)``; tanh: ``1 - y^2``; identity: 1.
    """
    rows, channels = y.shape
    for r in range(rows):
        for c in range(channels):
            v = y[r, c]
            if code == RELU:
                dz[r, c] = dy[r, c] if v > 0.0 else 0.0
            elif code == SIGMOID:
                dz[r, c] = dy[r, c] * v * (1.0 - v)
            elif code == TANH:
                dz[r, c] = dy[r, c] * (1.0 - v * v)
            else:
                dz[r, c] = dy[r, c]


@njit
def scale_shift(x, scale, shift, out):
    """``out[r, c] = x[r, c] * scale[c] + shift[c]`` (batchnorm with folded statistics)."""
    rows, channels = x.shape
    for r in range(rows):
        for c in range(channels):
            out[r, c] = x[r, c] * scale[c] + shift[c]


# ---- numpy twins (same names and signatures) ----------------------------------------------


def _np_activate(v, code, a, b):
    if code == IDENTITY:
        return v
    if code == RELU:
        return np.maximum(v, 0)
    if code in (LEAKY_RELU, PRELU):
        return np.where(v >= 0, v, a * v)
    if code == THRESHOLDED_RELU:
        return np.where(v >= a, v, 0)
    if code == TANH:
        return np.tanh(v)
    if code == SCALED_TANH:
        return a * np.tanh(b * v)
    if code == SIGMOID:
        return 0.5 * (1 + np.tanh(0.5 * v))
    if code == SIGMOID_HARD:
        return np.clip(a * v + b, 0, 1)
    if code == ELU:
        return np.where(v >= 0, v, a * np.expm1(np.minimum(v, 0)))
    if code == SOFTSIGN:
        return v / (1 + np.abs(v))
    if code == SOFTPLUS:
        return np.logaddexp(0, v)
    if code == PARAMETRIC_SOFTPLUS:
        return a * np.logaddexp(0, b * v)
    if code == LINEAR:
        return a * v + b
    raise ValueError(f"unknown activation code {code}")


def _np_bias_activation(z, bias, code, alpha, beta, out):
    out[...] = _np_activate(z + bias, code, alpha, beta)


def _np_activation_grad(y, dy, code, dz):
    if code == RELU:
        dz[...] = np.where(y > 0, dy, 0)
    elif code == SIGMOID:
        dz[...] = dy * y * (1 - y)
    elif code == TANH:
        dz[...] = dy * (1 - y * y)
    else:
        dz[...] = dy


def _np_scale_shift(x, scale, shift, out):
    out[...] = x * scale + shift


JIT = {
    "bias_activation": bias_activation,
    "activation_grad": activation_grad,
    "scale_shift": scale_shift,
}
NUMPY = {
    "bias_activation": _np_bias_activation,
    "activation_grad": _np_activation_grad,
    "scale_shift": _np_scale_shift,
}
