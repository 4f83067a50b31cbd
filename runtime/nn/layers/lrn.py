"""Runtime, neural-network layer: Core ML ``lrn`` layer: local response normalisation across
channels.

``LRNLayerParams`` (NeuralNetwork.proto)::

    y_c = x_c / (k + alpha / localSize * sum_{j in window(c)} x_j^2) ^ beta

``k`` defaults to 1 when unset or 0. The window spans ``localSize`` channels at the same pixel,
clipped at the channel edges: ``[c - (localSize - 1) // 2, c + localSize // 2]``. For odd sizes
this is centred (Caffe, ONNX and PyTorch agree); for even sizes Core ML documents no
placement, and the runtime follows Caffe and ONNX (one more channel after ``c`` than before).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from ._common import expect_inputs, or_default, where
from .base import Built, LayerKind, Shape


@dataclass(frozen=True)
class LrnAttrs:
    alpha: float
    beta: float
    local_size: int
    k: float


def build(layer, in_shapes: list[Shape]) -> Built:
    expect_inputs(layer, in_shapes)
    params = layer.lrn
    if params.localSize < 1:
        raise ShapeError(f"{where(layer)}: localSize must be at least 1; got {params.localSize}")
    attrs = LrnAttrs(
        float(params.alpha), float(params.beta), int(params.localSize), or_default(params.k, 1.0)
    )
    return Built(attrs, {}, [in_shapes[0]])


def window_sums(squares: np.ndarray, local_size: int) -> np.ndarray:
    """``sum_{j in window(c)} squares[..., j]``: one shifted add per window position (exact,
    unlike a cumulative-sum difference, and ``localSize`` is small)."""
    before = (local_size - 1) // 2
    channels = squares.shape[-1]
    sums = np.zeros_like(squares)
    for shift in range(-before, local_size - before):
        lo, hi = max(0, -shift), min(channels, channels - shift)
        if lo < hi:
            sums[..., lo:hi] += squares[..., lo + shift : hi + shift]
    return sums


def forward(attrs: LrnAttrs, params, xs, keep=False, out=None):
    """See the module docstring for the formula and the window."""
    del params, keep, out
    x = xs[0]
    dtype = x.dtype.type
    sums = window_sums(x * x, attrs.local_size)
    denominator = (dtype(attrs.k) + dtype(attrs.alpha / attrs.local_size) * sums) ** dtype(
        attrs.beta
    )
    return [x / denominator], None


KIND = LayerKind(oneof="lrn", build=build, forward=forward)
