"""Runtime, neural-network layer: elementwise kinds of one input whose math ignores the layout
(gelu, erf): one build, one forward over the flat values."""

from __future__ import annotations

import numpy as np

from ._nd_axes import input_count
from .base import Built


def build(layer, in_shapes) -> Built:
    """The output has the input's shape; attrs are filled by the unit."""
    input_count(layer, in_shapes, 1)
    return Built(None, {}, [tuple(in_shapes[0])])


def apply(kernel, x: np.ndarray, *args) -> np.ndarray:
    """``kernel(flat x, *args, flat y)`` into a new array of ``x``'s shape and dtype."""
    flat = np.ascontiguousarray(x).reshape(-1)
    y = np.empty_like(flat)
    kernel(flat, *args, y)
    return y.reshape(x.shape)
