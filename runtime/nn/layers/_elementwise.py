"""Runtime, neural-network layer: the n-ary elementwise kinds (add, multiply, average, max, min)
share one build and forward.

``NeuralNetwork.proto`` gives these layers "limited broadcasting": per example, shapes such as
``[1, 1, 1]``, ``[C, 1, 1]``, ``[1, H, W]`` and ``[C, H, W]`` combine, and the output has the
full shape. The runtime accepts exactly the per-axis rule behind those examples: along each of
C, H and W every input has either the common size or 1. With a single input, ``add`` computes
``x + alpha`` and ``multiply`` computes ``alpha * x`` (``alpha`` as stored, 0 when unset);
``average``, ``max`` and ``min`` of one input return it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from ._common import where
from .base import Built, Shape

# oneof -> the binary numpy ufunc that folds the inputs (average folds with add, then divides)
FOLD = {
    "add": np.add,
    "multiply": np.multiply,
    "average": np.add,
    "max": np.maximum,
    "min": np.minimum,
}


@dataclass(frozen=True)
class ElementwiseAttrs:
    op: str
    alpha: float | None  # the scalar operand of a single-input add / multiply
    out_shape: Shape


def broadcast_shape(layer, in_shapes: list[Shape]) -> Shape:
    """The common ``(H, W, C)`` shape; every input has the full size or 1 on each axis."""
    out = tuple(max(shape[axis] for shape in in_shapes) for axis in range(3))
    for shape in in_shapes:
        if any(size not in (1, full) for size, full in zip(shape, out, strict=True)):
            described = ", ".join(f"[C, H, W] = {[s[2], s[0], s[1]]}" for s in in_shapes)
            raise ShapeError(
                f"{where(layer)}: inputs do not broadcast ({described}); along C, H and W each "
                "input must have the common size or 1"
            )
    return out


def build(layer, in_shapes: list[Shape]) -> Built:
    op = layer.WhichOneof("layer")
    if not in_shapes:
        raise ShapeError(f"{where(layer)}: needs at least one input")
    out_shape = broadcast_shape(layer, in_shapes)
    alpha = None
    if len(in_shapes) == 1 and op in ("add", "multiply"):
        alpha = float(getattr(layer, op).alpha)
    return Built(ElementwiseAttrs(op, alpha, out_shape), {}, [out_shape])


def forward(attrs: ElementwiseAttrs, params, xs, keep=False, out=None):
    """``y = fold(op, xs)``; ``average`` divides the sum by the number of inputs."""
    del params, keep
    first = xs[0]
    target_shape = (max(x.shape[0] for x in xs), *attrs.out_shape)
    dtype = np.result_type(*xs)
    y = out[0] if out is not None and out[0] is not None else np.empty(target_shape, dtype)
    if attrs.alpha is not None:
        FOLD[attrs.op](first, dtype.type(attrs.alpha), out=y)
        return [y], None
    if len(xs) == 1:
        y[...] = first
        return [y], None
    fold = FOLD[attrs.op]
    fold(xs[0], xs[1], out=y)
    for x in xs[2:]:
        fold(y, x, out=y)
    if attrs.op == "average":
        np.divide(y, dtype.type(len(xs)), out=y)
    return [y], None
