"""Runtime, neural-network layer: Core ML ``transpose``: permute the axes of a tensor.

``TransposeLayerParams`` (NeuralNetwork.proto, Core ML 3): ``axes`` is a permutation of ``[0,
..., N-1]``, N the rank; output axis ``i`` is input axis ``axes[i]`` (``[3, 1, 2, 0]`` makes
``[6, 7, 8, 9]`` into ``[9, 7, 8, 6]``). Axis 0 is Core ML's own first axis, which a
converter may move (``[1, 0, 2]``: batch-first to sequence-first), not the runtime's example
axis: in ``nd`` the example axis stays first and the permutation applies behind it.
Backward applies the inverse permutation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from ._common import where
from ._nd_axes import input_count
from .base import ND, Built, CoreMLShape, LayerKind


@dataclass(frozen=True)
class TransposeAttrs:
    axes: tuple[int, ...]  # Core ML axes


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    input_count(layer, in_shapes, 1)
    shape = tuple(in_shapes[0])
    axes = tuple(int(a) for a in layer.transpose.axes)
    if sorted(axes) != list(range(len(shape))):
        raise ShapeError(
            f"{where(layer)}: axes {list(axes)} must be a permutation of "
            f"{list(range(len(shape)))} for the input of shape {list(shape)}"
        )
    return Built(TransposeAttrs(axes), {}, [tuple(shape[a] for a in axes)])


def _permuted(x: np.ndarray, axes) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, *(a + 1 for a in axes)))


def forward(attrs: TransposeAttrs, params, xs, keep=False, out=None):
    """``y[n] = x[n].transpose(axes)``, contiguous."""
    del params, keep, out
    return [_permuted(xs[0], attrs.axes)], None


def backward(attrs: TransposeAttrs, params, cache, dys, *, input_grads=True, param_grads=True):
    """``dx = dy`` permuted back (``argsort(axes)``)."""
    del params, cache, param_grads
    inverse = tuple(int(a) for a in np.argsort(attrs.axes))
    return [_permuted(dys[0], inverse) if input_grads else None], {}


KIND = LayerKind("transpose", build, forward, backward, layouts=(ND,))
