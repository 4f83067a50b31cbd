"""Runtime, neural-network layer: the n-ary elementwise kinds (add, multiply, average, max, min)
share one build and forward.

``NeuralNetwork.proto`` gives these layers "limited broadcasting": per example, shapes such as
``[1, 1, 1]``, ``[C, 1, 1]``, ``[1, H, W]`` and ``[C, H, W]`` combine, and the output has the
full shape. The runtime accepts exactly the per-axis rule behind those examples: along each of
C, H and W every input has either the common size or 1. With a single input, ``add`` computes
``x + alpha`` and ``multiply`` computes ``alpha * x`` (``alpha`` as stored, 0 when unset);
``average``, ``max`` and ``min`` of one input return it unchanged.

On N-D tensors ("in general, there are no rank constraints") the kinds run ``nd`` too, with
numpy's broadcasting (``runtime.nn.layers._nd_broadcast``), a superset of the examples
above; inputs of lower rank are aligned on their last axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from . import _nd_broadcast as nd_broadcast
from ._common import where
from .base import Built, CoreMLShape, Shape

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
    out_shape: tuple[int, ...]  # (H, W, C) in chw, the Core ML shape in nd
    rank: int | None = None  # the output's rank in nd (inputs are aligned to it); None: chw


def broadcast_shape(layer, in_shapes: list[Shape]) -> Shape:
    """The common ``(H, W, C)`` shape; every input has the full size or 1 on each axis."""
    out = (
        max(shape[0] for shape in in_shapes),
        max(shape[1] for shape in in_shapes),
        max(shape[2] for shape in in_shapes),
    )
    for shape in in_shapes:
        if any(size not in (1, full) for size, full in zip(shape, out, strict=True)):
            described = ", ".join(f"[C, H, W] = {[s[2], s[0], s[1]]}" for s in in_shapes)
            raise ShapeError(
                f"{where(layer)}: inputs do not broadcast ({described}); along C, H and W each "
                "input must have the common size or 1"
            )
    return out


def _alpha(layer, count: int) -> float | None:
    op = layer.WhichOneof("layer")
    if count == 0:
        raise ShapeError(f"{where(layer)}: needs at least one input")
    return float(getattr(layer, op).alpha) if count == 1 and op in ("add", "multiply") else None


def build(layer, in_shapes: list[Shape]) -> Built:
    alpha = _alpha(layer, len(in_shapes))
    out_shape = broadcast_shape(layer, in_shapes)
    return Built(ElementwiseAttrs(layer.WhichOneof("layer"), alpha, out_shape), {}, [out_shape])


def build_nd(layer, in_shapes: list[CoreMLShape]) -> Built:
    alpha = _alpha(layer, len(in_shapes))
    out_shape = nd_broadcast.broadcast_shape(layer, in_shapes)
    attrs = ElementwiseAttrs(layer.WhichOneof("layer"), alpha, out_shape, len(out_shape))
    return Built(attrs, {}, [out_shape])


def forward(attrs: ElementwiseAttrs, params, xs, keep=False, out=None):
    """``y = fold(op, xs)``; ``average`` divides the sum by the number of inputs."""
    del params, keep
    if attrs.rank is not None:
        xs = [nd_broadcast.aligned(x, attrs.rank) for x in xs]
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
