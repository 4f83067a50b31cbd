"""Runtime, neural-network layer: the one-input elementwise math kinds of Core ML 3 (``ceil``,
``floor``, ``round``, ``sign``, ``exp2`` and the trigonometric and hyperbolic functions): one
build, one forward, a table of numpy functions.

Each ``*LayerParams`` message of these kinds is empty: "Requires 1 input and produces 1 output.
Output shape is same as the input." The math is numpy's in the blob's dtype (float32 in a
model). Arguments outside a function's domain (``asin(2)``, ``acosh(0.5)``, ``atanh(1)``) give
NaN or infinity as IEEE arithmetic does; the runtime neither warns nor refuses, since the values
are only known when a prediction runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._nd_axes import input_count
from .base import CHW, ND, Built, CoreMLShape, LayerKind

# oneof -> numpy function. ``round``: halves go to the even neighbour (0.5 -> 0, 1.5 -> 2, as
# coremltools documents for the op that converters lower to this layer); ``sign``: -1, 0 or 1.
FUNCTIONS = {
    "ceil": np.ceil,
    "floor": np.floor,
    "round": np.rint,
    "sign": np.sign,
    "exp2": np.exp2,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "asin": np.arcsin,
    "acos": np.arccos,
    "atan": np.arctan,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "tanh": np.tanh,
    "asinh": np.arcsinh,
    "acosh": np.arccosh,
    "atanh": np.arctanh,
}


@dataclass(frozen=True)
class UnaryMathAttrs:
    op: str  # a key of FUNCTIONS


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    """One input; the output has its shape (a Core ML shape, or an ``(H, W, C)`` row in
    ``chw``: the math is the same in either layout)."""
    input_count(layer, in_shapes, 1)
    return Built(UnaryMathAttrs(layer.WhichOneof("layer")), {}, [tuple(in_shapes[0])])


def forward(attrs: UnaryMathAttrs, params, xs, keep=False, out=None):
    """``y = f(x)`` elementwise, in the input's dtype."""
    del params, keep, out
    x = xs[0]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        y = FUNCTIONS[attrs.op](x)
    return [np.ascontiguousarray(y, dtype=x.dtype)], None


def kind(oneof: str) -> LayerKind:
    """The ``LayerKind`` of one unary math layer (each unit makes its own)."""
    if oneof not in FUNCTIONS:
        raise KeyError(f"no unary math function for {oneof!r}; known: {sorted(FUNCTIONS)}")
    # elementwise: either layout, so a tensor between two convolutions stays channels-last
    return LayerKind(oneof, build, forward, layouts=(ND, CHW), build_nd=build)
