"""Runtime, neural-network layer: bilinear sampling shared by the image-resampling units
(``upsample``, ``resizeBilinear``, ``cropResize``).

``SamplingMode`` (NeuralNetwork.proto) places ``N`` grid points in an input interval ``[0,
X - 1]``; written for an interval ``[a, a + L]`` (``L = X - 1``: a whole axis, or a box's
extent in ``cropResize``):

* ``STRICT_ALIGN_ENDPOINTS_MODE``: ``linspace(a, a + L, N)`` (``a`` when ``N = 1``);
* ``ALIGN_ENDPOINTS_MODE``: the same, but the centre ``a + L / 2`` when ``N = 1``;
* ``UPSAMPLE_MODE``: ``a + min(L, i * X / N)`` (``linspace(0, X - X/N, N)``; the upsample
  layer's bilinear ``DEFAULT``);
* ``ROI_ALIGN_MODE``: ``d = max(1, L) / N``, ``a + min(L, (i + 0.5) * d)`` (torchvision's
  ``roi_align`` sample points with one sample per bin).

A point ``p`` reads ``(1 - t) * x[floor(p)] + t * x[floor(p) + 1]`` with ``t = p -
floor(p)`` (the upper tap clamped to the last index), along H then W.
"""

from __future__ import annotations

import numpy as np

STRICT, ALIGN, UPSAMPLE, ROI_ALIGN = 0, 1, 2, 3  # SamplingMode.Method
METHODS = {
    STRICT: "STRICT_ALIGN_ENDPOINTS_MODE",
    ALIGN: "ALIGN_ENDPOINTS_MODE",
    UPSAMPLE: "UPSAMPLE_MODE",
    ROI_ALIGN: "ROI_ALIGN_MODE",
}


def grid(method: int, start, length, count: int) -> np.ndarray:
    """Grid points (float64) of ``method`` over intervals ``[start, start + length]``:
    ``start`` and ``length`` broadcast together; the points are the last axis."""
    start = np.asarray(start, np.float64)[..., None]
    length = np.asarray(length, np.float64)[..., None]
    i = np.arange(count, dtype=np.float64)
    if method in (STRICT, ALIGN):
        if count == 1:
            offset = length / 2 if method == ALIGN else 0 * length
        else:
            offset = i * length / (count - 1)
    elif method == UPSAMPLE:
        offset = np.minimum(length, i * (length + 1) / count)
    else:
        spacing = np.maximum(1.0, length) / count
        offset = np.minimum(length, (i + 0.5) * spacing)
    return start + offset


def taps(points: np.ndarray, size: int):
    """The two input indices each point reads, the weight of the upper one, and whether the
    point lies inside ``[0, size - 1]`` (a point outside reads nothing)."""
    inside = (points >= 0) & (points <= size - 1)
    low = np.clip(np.floor(points), 0, size - 1).astype(np.intp)
    high = np.minimum(low + 1, size - 1)
    return low, high, points - np.floor(points), inside


def interpolate(x: np.ndarray, axis: int, points: np.ndarray) -> np.ndarray:
    """``x`` sampled at ``points`` (inside ``[0, size - 1]``) along ``axis``."""
    low, high, t, _ = taps(points, x.shape[axis])
    shape = [1] * x.ndim
    shape[axis] = points.size
    t = t.astype(x.dtype).reshape(shape)
    return np.take(x, low, axis=axis) * (1 - t) + np.take(x, high, axis=axis) * t


def resize_rows(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """A chw array ``(M, H, W, C)`` sampled at ``rows`` x ``cols``, contiguous."""
    return np.ascontiguousarray(interpolate(interpolate(x, 1, rows), 2, cols))
