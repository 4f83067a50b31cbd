"""Runtime, neural-network layer: Core ML ``batchedMatmul``: matrix products over the last two
axes, or a dense layer with a weight matrix.

``BatchedMatMulLayerParams`` (NeuralNetwork.proto, Core ML 3).

* Two inputs ``a``, ``b``: numpy's matmul rules. The matrices are the last two axes, the
  leading axes broadcast; a rank-1 ``a`` becomes ``(1, D)`` and a rank-1 ``b`` ``(D, 1)``;
  ``transposeA`` / ``transposeB`` transpose the (promoted) matrices. The output has rank
  ``max(2, rank a, rank b)``: the promoted axes stay, as the proto's output rule says.
* One input: ``y = x W + b`` over the last axis with ``W`` ``[X1, X2]``
  (``weightMatrixFirstDimension``, ``...SecondDimension``; stored column-major, i.e. the
  floats of ``[X2, X1]`` row-major, innerProduct's layout) and ``hasBias``; the other axes are
  rows. ``int8DynamicQuantize`` is refused (float32 only).

Every product goes through ``runtime.kernels.matmul``, one matrix at a time for two inputs,
so a batch split across threads gives the same bits. Forward only: Core ML neither updates
nor backpropagates through this layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runtime.kernels.matmul import matmul
from updatable.errors import ShapeError, UnsupportedLayerError

from . import _nd_dense as dense
from ._common import where
from ._nd_axes import input_count
from ._nd_broadcast import broadcast_shape
from ._weights import float_weights
from .base import ND, Built, CoreMLShape, LayerKind


@dataclass(frozen=True)
class MatmulAttrs:
    a_shape: CoreMLShape  # promoted to rank 2 or more, before any transpose
    b_shape: CoreMLShape
    transpose_a: bool
    transpose_b: bool
    out_shape: CoreMLShape


def _weighted(layer, shape: CoreMLShape) -> Built:
    p = layer.batchedMatmul
    if p.int8DynamicQuantize:
        raise UnsupportedLayerError(
            f"{where(layer)}: int8DynamicQuantize is set; the runtime computes in float32 only"
        )
    x1, x2 = int(p.weightMatrixFirstDimension), int(p.weightMatrixSecondDimension)
    if shape[-1] != x1 or x2 < 1:
        raise ShapeError(
            f"{where(layer)}: the weight matrix is [{x1}, {x2}]; the input of shape "
            f"{list(shape)} needs its last axis of size X1 = {x1}"
        )
    attrs = dense.DenseAttrs(shape, dense.out_shape(shape, 1, x2), x1, x2)
    params = dense.import_(attrs, {"weights": float_weights(layer, "weights", p.weights, x1 * x2)})
    if p.hasBias:
        params["b"] = float_weights(layer, "bias", p.bias, x2)
    return Built(attrs, params, [attrs.out_shape])


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    input_count(layer, in_shapes, 1, 2)
    if len(in_shapes) == 1:
        return _weighted(layer, tuple(in_shapes[0]))
    p = layer.batchedMatmul
    a = tuple(in_shapes[0]) if len(in_shapes[0]) > 1 else (1, *in_shapes[0])
    b = tuple(in_shapes[1]) if len(in_shapes[1]) > 1 else (*in_shapes[1], 1)
    (m, k), (k2, n) = (
        (a[-1:-3:-1] if p.transposeA else a[-2:]),
        (b[-1:-3:-1] if p.transposeB else b[-2:]),
    )
    if k != k2:
        raise ShapeError(
            f"{where(layer)}: cannot multiply matrices of shapes {[m, k]} and {[k2, n]} (inputs "
            f"{list(in_shapes[0])} and {list(in_shapes[1])}, transposeA={p.transposeA}, "
            f"transposeB={p.transposeB})"
        )
    lead = broadcast_shape(layer, [a[:-2], b[:-2]])
    out = (*lead, m, n)
    return Built(MatmulAttrs(a, b, bool(p.transposeA), bool(p.transposeB), out), {}, [out])


def _matrices(x: np.ndarray, shape, transpose: bool, lead) -> np.ndarray:
    """``(N * prod(lead), rows, cols)``: promoted, transposed, broadcast over ``lead``."""
    x = x.reshape(x.shape[0], *([1] * (len(lead) + 2 - len(shape))), *shape)
    if transpose:
        x = np.swapaxes(x, -1, -2)
    x = np.broadcast_to(x, (x.shape[0], *lead, *x.shape[-2:]))
    return x.reshape(-1, *x.shape[-2:])


def forward(attrs, params, xs, keep=False, out=None):
    """One product per example and leading position; or the dense form (``_nd_dense``)."""
    if isinstance(attrs, dense.DenseAttrs):
        return dense.forward(attrs, params, xs, keep, out)
    lead = attrs.out_shape[:-2]
    a = _matrices(xs[0], attrs.a_shape, attrs.transpose_a, lead)
    b = _matrices(xs[1], attrs.b_shape, attrs.transpose_b, lead)
    y = np.empty((a.shape[0], *attrs.out_shape[-2:]), np.result_type(a, b))
    for i in range(len(a)):
        matmul(a[i], b[i], y[i])
    return [y.reshape(xs[0].shape[0], *attrs.out_shape)], None


# forward only: Core ML neither updates nor backpropagates through batchedMatMul
KIND = LayerKind("batchedMatmul", build, forward, layouts=(ND,))
