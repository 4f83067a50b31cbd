"""Runtime, neural-network layer: the comparison and logical kinds of Core ML 3 (``equal``,
``notEqual``, ``lessThan``, ``lessEqual``, ``greaterThan``, ``greaterEqual``, ``logicalAnd``,
``logicalOr``, ``logicalXor``, ``logicalNot``): one build, one forward, a table of numpy ufuncs.

NeuralNetwork.proto (``EqualLayerParams`` ... ``LogicalNotLayerParams``): the output is
``1.0`` where the condition holds and ``0.0`` elsewhere (Core ML blobs are float), in the
inputs' broadcast shape (``runtime.nn.layers._nd_broadcast``). A comparison takes 1 or
2 inputs: with one, it compares against the scalar ``alpha`` (``y = x1 < alpha``). The logical
kinds read a value as false when it equals ``0.0`` and true otherwise (NaN is true); and, or,
xor take exactly 2 inputs, not exactly 1, as Core ML's validator requires.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._nd_axes import input_count
from ._nd_broadcast import aligned, broadcast_shape
from .base import ND, Built, CoreMLShape, LayerKind

COMPARISONS = {
    "equal": np.equal,
    "notEqual": np.not_equal,
    "lessThan": np.less,
    "lessEqual": np.less_equal,
    "greaterThan": np.greater,
    "greaterEqual": np.greater_equal,
}
LOGICAL = {
    "logicalAnd": np.logical_and,
    "logicalOr": np.logical_or,
    "logicalXor": np.logical_xor,
    "logicalNot": np.logical_not,
}


@dataclass(frozen=True)
class LogicAttrs:
    op: str
    rank: int  # the output's rank; inputs are aligned to it
    alpha: float | None  # the right operand of a one-input comparison


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    """Inputs as the op requires (module docstring); the output has their broadcast shape."""
    op = layer.WhichOneof("layer")
    alpha = None
    if op in COMPARISONS:
        input_count(layer, in_shapes, 1, 2)
        if len(in_shapes) == 1:
            alpha = float(getattr(layer, op).alpha)
    else:
        input_count(layer, in_shapes, 1 if op == "logicalNot" else 2)
    out = broadcast_shape(layer, [tuple(s) for s in in_shapes])
    return Built(LogicAttrs(op, len(out), alpha), {}, [out])


def forward(attrs: LogicAttrs, params, xs, keep=False, out=None):
    """``y = 1.0`` where ``op(x1, x2)`` (or ``op(x1, alpha)``, ``op(x1)``) holds, else ``0.0``."""
    del params, keep, out
    dtype = np.result_type(*xs)
    operands = [aligned(x, attrs.rank) for x in xs]
    if attrs.op in COMPARISONS:
        if attrs.alpha is not None:
            operands.append(dtype.type(attrs.alpha))
        truth = COMPARISONS[attrs.op](*operands)
    else:
        truth = LOGICAL[attrs.op](*(x != 0 for x in operands))
    return [np.ascontiguousarray(truth, dtype=dtype)], None


def kind(oneof: str) -> LayerKind:
    """The ``LayerKind`` of one comparison or logical layer (each unit makes its own)."""
    if oneof not in COMPARISONS and oneof not in LOGICAL:
        raise KeyError(f"no comparison or logical op {oneof!r}")
    return LayerKind(oneof, build, forward, layouts=(ND,))
