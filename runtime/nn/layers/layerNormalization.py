"""Runtime, neural-network layer: Core ML ``layerNormalization``: normalise over the trailing axes,
then scale and shift.

``LayerNormalizationLayerParams`` (NeuralNetwork.proto, Core ML 3)::

    y = gamma * (x - mean) / sqrt(var + eps) + beta

``mean`` and ``var`` are taken over the last ``len(normalizedShape)`` axes (the leading ones
are batch); ``normalizedShape`` must equal the input's trailing sizes (``(5, 6, 7)`` of a
``(10, 5, 6, 7)`` input), and ``gamma`` and ``beta`` hold ``prod(normalizedShape)`` values in
row-major order. The variance is the biased one (divided by the count, as PyTorch's
``LayerNorm`` and Core ML's ``mvn``); ``eps`` is used as stored. Core ML's validator requires
``normalizedShape``, ``gamma`` and ``beta`` of matching sizes; so does the runtime. Forward
only: Core ML cannot backpropagate through this layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from ._common import weight_array, where
from ._nd_axes import input_count
from .base import ND, Built, CoreMLShape, LayerKind


@dataclass(frozen=True)
class LayerNormAttrs:
    axes: tuple[int, ...]  # array axes normalised over
    eps: float


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    input_count(layer, in_shapes, 1)
    p = layer.layerNormalization
    shape = tuple(in_shapes[0])
    normalized = tuple(int(d) for d in p.normalizedShape)
    if not normalized:
        raise ShapeError(f"{where(layer)}: normalizedShape is empty; it is required")
    if len(normalized) > len(shape) or shape[len(shape) - len(normalized) :] != normalized:
        raise ShapeError(
            f"{where(layer)}: normalizedShape {list(normalized)} must equal the last axes of "
            f"the input of shape {list(shape)}"
        )
    count = math.prod(normalized)
    gamma = weight_array(layer, "gamma", p.gamma, count).reshape(normalized)
    beta = weight_array(layer, "beta", p.beta, count).reshape(normalized)
    axes = tuple(range(len(shape) - len(normalized) + 1, len(shape) + 1))
    return Built(LayerNormAttrs(axes, float(p.eps)), {"gamma": gamma, "beta": beta}, [shape])


def forward(attrs: LayerNormAttrs, params, xs, keep=False, out=None):
    """``y = gamma * (x - mean) / sqrt(var + eps) + beta`` over the normalised axes."""
    del keep, out
    x = xs[0]
    t = x.dtype.type
    centred = x - x.mean(axis=attrs.axes, keepdims=True)
    variance = np.mean(centred * centred, axis=attrs.axes, keepdims=True)
    normed = centred / np.sqrt(variance + t(attrs.eps))
    gamma, beta = (params[k].astype(x.dtype, copy=False) for k in ("gamma", "beta"))
    return [np.ascontiguousarray(normed * gamma + beta)], None


KIND = LayerKind("layerNormalization", build, forward, layouts=(ND,))
