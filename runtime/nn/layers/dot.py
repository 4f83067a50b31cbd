"""Runtime, neural-network layer: Core ML ``dot`` layer: dot product (or cosine similarity) of two
vectors per example.

``DotProductLayerParams`` (NeuralNetwork.proto): both inputs are ``[C, 1, 1]``; the output is
``[1, 1, 1]`` holding ``sum_c x1_c * x2_c``, or with ``cosineSimilarity`` that sum divided by
``|x1| * |x2|``. Core ML documents no epsilon; the runtime divides by
``max(|x1| * |x2|, 1e-12)`` so that a zero vector gives 0 instead of NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from ._common import where
from .base import Built, LayerKind, Shape


@dataclass(frozen=True)
class DotAttrs:
    cosine: bool


def build(layer, in_shapes: list[Shape]) -> Built:
    if len(in_shapes) != 2 or in_shapes[0] != in_shapes[1] or in_shapes[0][:2] != (1, 1):
        described = [[s[2], s[0], s[1]] for s in in_shapes]
        raise ShapeError(
            f"{where(layer)}: needs two inputs of equal shape [C, 1, 1]; got {described}"
        )
    return Built(DotAttrs(bool(layer.dot.cosineSimilarity)), {}, [(1, 1, 1)])


def forward(attrs: DotAttrs, params, xs, keep=False, out=None):
    """``y = x1 . x2`` (``/ (|x1| |x2|)`` for cosine similarity)."""
    del params, keep, out
    a, b = (x.reshape(x.shape[0], -1) for x in xs)
    y = np.einsum("nc,nc->n", a, b)
    if attrs.cosine:
        norms = np.sqrt(np.einsum("nc,nc->n", a, a) * np.einsum("nc,nc->n", b, b))
        y = y / np.maximum(norms, a.dtype.type(1e-12))
    return [y.astype(a.dtype).reshape(-1, 1, 1, 1)], None


KIND = LayerKind(oneof="dot", build=build, forward=forward)
