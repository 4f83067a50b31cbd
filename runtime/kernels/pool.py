"""Runtime, kernels layer: spatial pooling kernels on NHWC blobs (max, average, L2) and their
backward kernels.

Geometry: kernel ``(kh, kw)``, stride ``(sh, sw)``, top/left padding ``(pad_top, pad_left)``;
the output size is read from ``out``. Window ``(oh, ow)`` covers input rows
``oh*sh - pad_top ... + kh - 1`` and columns likewise, clipped to the input.

- max: padded positions are ignored (never win); a window with no input pixel gives 0.
- average: the divisor counts the window's positions inside the padded input
  ``[-pad_top, H + pad_bottom) x [-pad_left, W + pad_right)`` (so an ``includeLastPixel``
  window that overhangs the padding is not charged for the overhang, as in Caffe, the origin
  of that padding mode), or only the positions inside the input with ``exclude_padding``
  (Core ML ``avgPoolExcludePadding``).
- L2: ``sqrt(sum x^2)`` over the window's input pixels (zero padding adds nothing).
"""

from __future__ import annotations

import math

import numpy as np

from runtime.kernels.elementwise import IDENTITY, RELU, _activate, _np_activate
from runtime.kernels.jit import njit


@njit
def _clip(o, stride, pad, k, size):
    """Window rows ``[lo, hi)`` inside the input, for output row ``o``."""
    start = o * stride - pad
    return max(start, 0), min(start + k, size)


@njit
def max_pool(x, kh, kw, sh, sw, pad_top, pad_left, out, argmax):
    """``out = max`` over each window; ``argmax`` (same shape, or size 0 to skip) receives the
    flat input index ``ih*W + iw`` of the winner (first one on ties), -1 for empty windows."""
    n_batch, height, width, channels = x.shape
    _, ho, wo, _ = out.shape
    track = argmax.size > 0
    for n in range(n_batch):
        for oh in range(ho):
            h0, h1 = _clip(oh, sh, pad_top, kh, height)
            for ow in range(wo):
                w0, w1 = _clip(ow, sw, pad_left, kw, width)
                if h0 >= h1 or w0 >= w1:
                    for c in range(channels):
                        out[n, oh, ow, c] = 0.0
                        if track:
                            argmax[n, oh, ow, c] = -1
                    continue
                for c in range(channels):
                    out[n, oh, ow, c] = x[n, h0, w0, c]
                    if track:
                        argmax[n, oh, ow, c] = h0 * width + w0
                for ih in range(h0, h1):
                    for iw in range(w0, w1):
                        if track:
                            for c in range(channels):
                                v = x[n, ih, iw, c]
                                if v > out[n, oh, ow, c]:
                                    out[n, oh, ow, c] = v
                                    argmax[n, oh, ow, c] = ih * width + iw
                        else:
                            for c in range(channels):
                                out[n, oh, ow, c] = max(out[n, oh, ow, c], x[n, ih, iw, c])


@njit
def max_pool_bias_activation(x, kh, kw, sh, sw, pad_top, pad_left, bias, code, alpha, beta, out):
    """``out = f(max + bias[c])`` over each window (0 for a window with no input pixel): a
    producer's bias and non-decreasing activation applied after the pooling
    (``runtime.nn.epilogues``); ``code``, ``alpha`` and ``beta`` as in ``elementwise``."""
    n_batch, height, width, channels = x.shape
    _, ho, wo, _ = out.shape
    for n in range(n_batch):
        for oh in range(ho):
            h0, h1 = _clip(oh, sh, pad_top, kh, height)
            for ow in range(wo):
                w0, w1 = _clip(ow, sw, pad_left, kw, width)
                if h0 >= h1 or w0 >= w1:
                    for c in range(channels):
                        out[n, oh, ow, c] = 0.0
                    continue
                for c in range(channels):
                    out[n, oh, ow, c] = x[n, h0, w0, c]
                for ih in range(h0, h1):
                    for iw in range(w0, w1):
                        for c in range(channels):
                            out[n, oh, ow, c] = max(out[n, oh, ow, c], x[n, ih, iw, c])
                if code == RELU:
                    for c in range(channels):
                        v = out[n, oh, ow, c] + bias[c]
                        out[n, oh, ow, c] = 0 if v <= 0 else v  # NaN stays NaN, as in max(v, 0)
                elif code == IDENTITY:
                    for c in range(channels):
                        out[n, oh, ow, c] += bias[c]
                else:
                    for c in range(channels):
                        v = out[n, oh, ow, c] + bias[c]
                        out[n, oh, ow, c] = _activate(v, code, alpha[c], beta[c])


@njit
def _divisor(oh, ow, kh, kw, sh, sw, pt, pl, pb, pr, height, width, exclude):
    if exclude:
        h0, h1 = _clip(oh, sh, pt, kh, height)
        w0, w1 = _clip(ow, sw, pl, kw, width)
    else:
        h0, h1 = oh * sh - pt, min(oh * sh - pt + kh, height + pb)
        w0, w1 = ow * sw - pl, min(ow * sw - pl + kw, width + pr)
    return max(h1 - h0, 0) * max(w1 - w0, 0)


@njit
def avg_pool(x, kh, kw, sh, sw, pad_top, pad_left, pad_bottom, pad_right, exclude_padding, out):
    """``out = sum / divisor`` over each window (see the module docstring for the divisor)."""
    n_batch, height, width, channels = x.shape
    _, ho, wo, _ = out.shape
    for n in range(n_batch):
        for oh in range(ho):
            h0, h1 = _clip(oh, sh, pad_top, kh, height)
            for ow in range(wo):
                w0, w1 = _clip(ow, sw, pad_left, kw, width)
                count = _divisor(
                    oh,
                    ow,
                    kh,
                    kw,
                    sh,
                    sw,
                    pad_top,
                    pad_left,
                    pad_bottom,
                    pad_right,
                    height,
                    width,
                    exclude_padding,
                )
                for c in range(channels):
                    out[n, oh, ow, c] = 0.0
                for ih in range(h0, h1):
                    for iw in range(w0, w1):
                        for c in range(channels):
                            out[n, oh, ow, c] += x[n, ih, iw, c]
                scale = 1.0 / count if count > 0 else 0.0
                for c in range(channels):
                    out[n, oh, ow, c] *= scale


@njit
def l2_pool(x, kh, kw, sh, sw, pad_top, pad_left, out):
    """``out = sqrt(sum x^2)`` over each window."""
    n_batch, height, width, channels = x.shape
    _, ho, wo, _ = out.shape
    for n in range(n_batch):
        for oh in range(ho):
            h0, h1 = _clip(oh, sh, pad_top, kh, height)
            for ow in range(wo):
                w0, w1 = _clip(ow, sw, pad_left, kw, width)
                for c in range(channels):
                    out[n, oh, ow, c] = 0.0
                for ih in range(h0, h1):
                    for iw in range(w0, w1):
                        for c in range(channels):
                            out[n, oh, ow, c] += x[n, ih, iw, c] * x[n, ih, iw, c]
                for c in range(channels):
                    out[n, oh, ow, c] = math.sqrt(out[n, oh, ow, c])


@njit
def max_pool_grad(dy, argmax, dx):
    """Route each ``dy`` to its window's winner: ``dx[n, a // W, a % W, c] += dy``."""
    n_batch, ho, wo, channels = dy.shape
    width = dx.shape[2]
    for n in range(n_batch):
        for oh in range(ho):
            for ow in range(wo):
                for c in range(channels):
                    a = argmax[n, oh, ow, c]
                    if a >= 0:
                        dx[n, a // width, a % width, c] += dy[n, oh, ow, c]


@njit
def avg_pool_grad(
    dy, kh, kw, sh, sw, pad_top, pad_left, pad_bottom, pad_right, exclude_padding, dx
):
    """Spread ``dy / divisor`` over each window's input pixels, accumulated into ``dx``."""
    n_batch, height, width, channels = dx.shape
    _, ho, wo, _ = dy.shape
    for n in range(n_batch):
        for oh in range(ho):
            h0, h1 = _clip(oh, sh, pad_top, kh, height)
            for ow in range(wo):
                w0, w1 = _clip(ow, sw, pad_left, kw, width)
                count = _divisor(
                    oh,
                    ow,
                    kh,
                    kw,
                    sh,
                    sw,
                    pad_top,
                    pad_left,
                    pad_bottom,
                    pad_right,
                    height,
                    width,
                    exclude_padding,
                )
                if count == 0:
                    continue
                scale = 1.0 / count
                for ih in range(h0, h1):
                    for iw in range(w0, w1):
                        for c in range(channels):
                            dx[n, ih, iw, c] += dy[n, oh, ow, c] * scale


@njit
def l2_pool_grad(x, y, dy, kh, kw, sh, sw, pad_top, pad_left, dx):
    """``dx += dy * x / y`` over each window (0 where the window's norm is 0)."""
    n_batch, height, width, channels = dx.shape
    _, ho, wo, _ = dy.shape
    for n in range(n_batch):
        for oh in range(ho):
            h0, h1 = _clip(oh, sh, pad_top, kh, height)
            for ow in range(wo):
                w0, w1 = _clip(ow, sw, pad_left, kw, width)
                for ih in range(h0, h1):
                    for iw in range(w0, w1):
                        for c in range(channels):
                            norm = y[n, oh, ow, c]
                            if norm > 0.0:
                                dx[n, ih, iw, c] += dy[n, oh, ow, c] * x[n, ih, iw, c] / norm


# ---- numpy twins (same names and signatures) ----------------------------------------------


def _np_windows(height, width, ho, wo, kh, kw, sh, sw, pad_top, pad_left):
    """Yield ``(oh, ow, rows, cols)`` with each window's slices clipped to the input."""
    for oh in range(ho):
        h0 = oh * sh - pad_top
        for ow in range(wo):
            w0 = ow * sw - pad_left
            rows = slice(max(h0, 0), max(min(h0 + kh, height), 0))
            cols = slice(max(w0, 0), max(min(w0 + kw, width), 0))
            yield oh, ow, rows, cols


def _np_divisor(oh, ow, kh, kw, sh, sw, pt, pl, pb, pr, height, width, exclude):
    if exclude:
        rows = min(oh * sh - pt + kh, height) - max(oh * sh - pt, 0)
        cols = min(ow * sw - pl + kw, width) - max(ow * sw - pl, 0)
    else:
        rows = min(oh * sh - pt + kh, height + pb) - (oh * sh - pt)
        cols = min(ow * sw - pl + kw, width + pr) - (ow * sw - pl)
    return max(rows, 0) * max(cols, 0)


def _np_max_pool(x, kh, kw, sh, sw, pad_top, pad_left, out, argmax):
    n, height, width, channels = x.shape
    _, ho, wo, _ = out.shape
    for oh, ow, rows, cols in _np_windows(height, width, ho, wo, kh, kw, sh, sw, pad_top, pad_left):
        window = x[:, rows, cols].reshape(n, -1, channels)
        if window.shape[1] == 0:
            out[:, oh, ow] = 0
            if argmax.size:
                argmax[:, oh, ow] = -1
            continue
        out[:, oh, ow] = window.max(axis=1)
        if argmax.size:
            best = window.argmax(axis=1)  # first maximum, like the JIT kernel
            n_cols = cols.stop - cols.start
            argmax[:, oh, ow] = (rows.start + best // n_cols) * width + cols.start + best % n_cols


def _np_max_pool_bias_activation(
    x, kh, kw, sh, sw, pad_top, pad_left, bias, code, alpha, beta, out
):
    _np_max_pool(x, kh, kw, sh, sw, pad_top, pad_left, out, np.zeros((0,) * 4, np.int64))
    height, width = x.shape[1:3]
    _, ho, wo, _ = out.shape
    for oh, ow, rows, cols in _np_windows(height, width, ho, wo, kh, kw, sh, sw, pad_top, pad_left):
        if rows.stop > rows.start and cols.stop > cols.start:
            out[:, oh, ow] = _np_activate(out[:, oh, ow] + bias, code, alpha, beta)


def _np_avg_pool(x, kh, kw, sh, sw, pad_top, pad_left, pad_bottom, pad_right, exclude_padding, out):
    _, height, width, _ = x.shape
    _, ho, wo, _ = out.shape
    for oh, ow, rows, cols in _np_windows(height, width, ho, wo, kh, kw, sh, sw, pad_top, pad_left):
        count = _np_divisor(
            oh,
            ow,
            kh,
            kw,
            sh,
            sw,
            pad_top,
            pad_left,
            pad_bottom,
            pad_right,
            height,
            width,
            exclude_padding,
        )
        total = x[:, rows, cols].sum(axis=(1, 2))
        out[:, oh, ow] = total / count if count else 0


def _np_l2_pool(x, kh, kw, sh, sw, pad_top, pad_left, out):
    _, height, width, _ = x.shape
    _, ho, wo, _ = out.shape
    for oh, ow, rows, cols in _np_windows(height, width, ho, wo, kh, kw, sh, sw, pad_top, pad_left):
        out[:, oh, ow] = np.sqrt((x[:, rows, cols] ** 2).sum(axis=(1, 2)))


def _np_max_pool_grad(dy, argmax, dx):
    n, _, _, channels = dx.shape
    flat = dx.reshape(n, -1, channels)
    winners = argmax.reshape(n, -1, channels)
    grads = dy.reshape(n, -1, channels)
    batch = np.arange(n)[:, None, None]
    chan = np.arange(channels)[None, None, :]
    hit = winners >= 0
    np.add.at(
        flat,
        (
            np.broadcast_to(batch, winners.shape)[hit],
            winners[hit],
            np.broadcast_to(chan, winners.shape)[hit],
        ),
        grads[hit],
    )
    dx[...] = flat.reshape(dx.shape)


def _np_avg_pool_grad(
    dy, kh, kw, sh, sw, pad_top, pad_left, pad_bottom, pad_right, exclude_padding, dx
):
    _, height, width, _ = dx.shape
    _, ho, wo, _ = dy.shape
    for oh, ow, rows, cols in _np_windows(height, width, ho, wo, kh, kw, sh, sw, pad_top, pad_left):
        count = _np_divisor(
            oh,
            ow,
            kh,
            kw,
            sh,
            sw,
            pad_top,
            pad_left,
            pad_bottom,
            pad_right,
            height,
            width,
            exclude_padding,
        )
        if count:
            dx[:, rows, cols] += dy[:, oh, ow][:, None, None, :] / count


def _np_l2_pool_grad(x, y, dy, kh, kw, sh, sw, pad_top, pad_left, dx):
    _, height, width, _ = dx.shape
    _, ho, wo, _ = dy.shape
    safe = np.where(y > 0, y, 1)
    ratio = np.where(y > 0, dy / safe, 0)
    for oh, ow, rows, cols in _np_windows(height, width, ho, wo, kh, kw, sh, sw, pad_top, pad_left):
        dx[:, rows, cols] += ratio[:, oh, ow][:, None, None, :] * x[:, rows, cols]


JIT = {
    "max_pool": max_pool,
    "max_pool_bias_activation": max_pool_bias_activation,
    "avg_pool": avg_pool,
    "l2_pool": l2_pool,
    "max_pool_grad": max_pool_grad,
    "avg_pool_grad": avg_pool_grad,
    "l2_pool_grad": l2_pool_grad,
}
NUMPY = {
    "max_pool": _np_max_pool,
    "max_pool_bias_activation": _np_max_pool_bias_activation,
    "avg_pool": _np_avg_pool,
    "l2_pool": _np_l2_pool,
    "max_pool_grad": _np_max_pool_grad,
    "avg_pool_grad": _np_avg_pool_grad,
    "l2_pool_grad": _np_l2_pool_grad,
}
