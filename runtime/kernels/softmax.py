"""Runtime, kernels layer: softmax over the channel axis and the fused softmax + categorical
cross-entropy.

Both work on rows: an NHWC blob seen as ``(N*H*W, C)``; Core ML's softmax layer normalises
along C (``SoftmaxLayerParams``: axis -3 of ``[C, H, W]``), which is the last NHWC axis.
"""

from __future__ import annotations

import math

import numpy as np

from runtime.kernels.jit import njit


@njit
def softmax(x, out):
    """``out[r] = exp(x[r] - max x[r]) / sum exp(x[r] - max x[r])`` for every row."""
    rows, channels = x.shape
    for r in range(rows):
        top = x[r, 0]
        for c in range(1, channels):
            top = max(top, x[r, c])
        total = 0.0
        for c in range(channels):
            e = math.exp(x[r, c] - top)
            out[r, c] = e
            total += e
        scale = 1.0 / total
        for c in range(channels):
            out[r, c] *= scale


@njit
def softmax_cross_entropy(logits, target_index):
    """Mean categorical cross-entropy of ``softmax(logits)`` and its gradient.

    ``logits`` is ``(N, C)``, ``target_index`` ``(N,)`` integer class indices. Returns
    ``(loss, dlogits)`` with ``loss = mean_n(-log p[n, t_n])``, ``p = softmax(logits[n])``,
    computed as ``logsumexp(logits[n]) - logits[n, t_n]`` (no overflow, no log of 0), and
    ``dlogits[n] = (p[n] - onehot(t_n)) / N``: the loss layer's gradient with the softmax
    fused in (Core ML exempts exactly that softmax from the backprop rules).
    """
    rows, channels = logits.shape
    dlogits = np.empty_like(logits)
    loss = 0.0
    for r in range(rows):
        top = logits[r, 0]
        for c in range(1, channels):
            top = max(top, logits[r, c])
        total = 0.0
        for c in range(channels):
            e = math.exp(logits[r, c] - top)
            dlogits[r, c] = e
            total += e
        t = target_index[r]
        loss += math.log(total) + top - logits[r, t]
        scale = 1.0 / (total * rows)
        for c in range(channels):
            dlogits[r, c] *= scale
        dlogits[r, t] -= 1.0 / rows
    return loss / rows, dlogits


# ---- numpy twins (same names and signatures) ----------------------------------------------


def _np_softmax(x, out):
    shifted = x - x.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    out[...] = e / e.sum(axis=1, keepdims=True)


def _np_softmax_cross_entropy(logits, target_index):
    rows = logits.shape[0]
    dlogits = np.empty_like(logits)
    top = logits.max(axis=1, keepdims=True)
    e = np.exp(logits - top)
    total = e.sum(axis=1, keepdims=True)
    picked = logits[np.arange(rows), target_index]
    loss = float(np.mean(np.log(total[:, 0]) + top[:, 0] - picked))
    dlogits[...] = e / (total * rows)
    dlogits[np.arange(rows), target_index] -= 1.0 / rows
    return loss, dlogits


JIT = {"softmax": softmax, "softmax_cross_entropy": softmax_cross_entropy}
NUMPY = {"softmax": _np_softmax, "softmax_cross_entropy": _np_softmax_cross_entropy}
