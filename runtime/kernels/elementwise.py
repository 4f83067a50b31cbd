"""Runtime, kernels layer: per-channel elementwise kernels on ``(rows, C)`` views: bias +
activation epilogues, activation derivatives and batchnorm's scale + shift.

Every kernel takes 2-D arrays whose last axis is the channel axis (an NHWC blob seen as
``(N*H*W, C)``), reads ``x`` and writes ``out``; ``out`` may be ``x`` itself (in place) or a
strided channel slice of a larger buffer (concat outputs written in place).

Activation formulas are Core ML's (``NeuralNetwork.proto``, ``ActivationParams``); ``alpha`` and
``beta`` are per-channel arrays of length C (scalar parameters are broadcast by the caller).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from runtime.kernels.jit import njit

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
# also the only activations Core ML can backpropagate through (docs/mlmodel-format.md §2.4).
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


@njit(inline="always")
def _epilogue_row(z, bias, code, alpha, beta, out):
    # one row; rows of C-contiguous arrays are contiguous, so the two fast loops vectorise
    if code == IDENTITY:
        for c in range(bias.shape[0]):
            out[c] = z[c] + bias[c]
    elif code == RELU:
        for c in range(bias.shape[0]):
            v = z[c] + bias[c]
            out[c] = 0 if v <= 0 else v  # NaN stays NaN, as in max(v, 0)
    else:
        for c in range(bias.shape[0]):
            out[c] = _activate(z[c] + bias[c], code, alpha[c], beta[c])


@njit(inline="always")
def _epilogue_row_in_place(y, bias, code, alpha, beta):
    # NOTE: one array, not (y, y): LLVM vectorises a loop only after a runtime check that
    # input and output do not overlap, and falls back to scalar code when they are the same.
    if code == IDENTITY:
        for c in range(bias.shape[0]):
            y[c] += bias[c]
    elif code == RELU:
        for c in range(bias.shape[0]):
            v = y[c] + bias[c]
            y[c] = 0 if v <= 0 else v  # NaN stays NaN, as in max(v, 0)
    else:
        for c in range(bias.shape[0]):
            y[c] = _activate(y[c] + bias[c], code, alpha[c], beta[c])


@njit
def _rows_in_place(y, bias, code, alpha, beta):
    for r in range(y.shape[0]):
        _epilogue_row_in_place(y[r], bias, code, alpha, beta)


@njit
def _rows_apart(z, bias, code, alpha, beta, out):
    for r in range(z.shape[0]):
        _epilogue_row(z[r], bias, code, alpha, beta, out[r])


@njit
def bias_activation(z, bias, code, alpha, beta, out):
    """``out[r, c] = f(z[r, c] + bias[c])`` with f the activation ``code``; ``out`` may be
    ``z`` itself (in place) or a strided channel slice."""
    # NOTE: two separately compiled loops; with both inlined into one function LLVM stopped
    # vectorising the in-place one (measured 10x slower)
    if z.ctypes.data == out.ctypes.data and z.strides == out.strides:
        _rows_in_place(out, bias, code, alpha, beta)
    else:
        _rows_apart(z, bias, code, alpha, beta, out)


@njit
def bias_activation_block(y, c0, bias, code, alpha, beta):
    """In place on the channel block ``c0 : c0 + C`` of a C-contiguous ``(rows, C_total)``
    array: ``y[r, c0 + c] = f(y[r, c0 + c] + bias[c])`` (a concat slice without strided
    loads: each row's block is a contiguous slice)."""
    channels = bias.shape[0]
    for r in range(y.shape[0]):
        _epilogue_row_in_place(y[r, c0 : c0 + channels], bias, code, alpha, beta)


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


@njit
def channels_last(x, out):
    """``out[n, h, w, c] = x[n, c, h, w]``: a Core ML ``[C, H, W]`` multiArray batch to the
    runtime's ``(N, H, W, C)`` blob layout. One image row at a time: the ``C`` source rows
    are read in step while the destination row is written once, front to back (3x-4x
    faster than numpy's strided transpose copy for images, where ``C`` is 1-4)."""
    n_batch, channels, height, width = x.shape
    for n in range(n_batch):
        for h in range(height):
            dst = out[n, h]
            for c in range(channels):
                src = x[n, c, h]
                for w in range(width):
                    dst[w, c] = src[w]


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


def _np_bias_activation_block(y, c0, bias, code, alpha, beta):
    block = y[:, c0 : c0 + bias.shape[0]]
    block[...] = _np_activate(block + bias, code, alpha, beta)


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


def _np_channels_last(x, out):
    out[...] = x.transpose(0, 2, 3, 1)


# name -> kernel (numba) and its numpy twin (house rule 4)
JIT: dict[str, Callable[..., Any]] = {
    "bias_activation": bias_activation,
    "bias_activation_block": bias_activation_block,
    "activation_grad": activation_grad,
    "scale_shift": scale_shift,
    "channels_last": channels_last,
}
NUMPY: dict[str, Callable[..., Any]] = {
    "bias_activation": _np_bias_activation,
    "bias_activation_block": _np_bias_activation_block,
    "activation_grad": _np_activation_grad,
    "scale_shift": _np_scale_shift,
    "channels_last": _np_channels_last,
}
