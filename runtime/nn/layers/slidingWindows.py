"""Runtime, neural-network layer: Core ML ``slidingWindows``: every window of ``windowSize``
values, ``step`` apart, along an axis.

``SlidingWindowsLayerParams`` (NeuralNetwork.proto, Core ML 3): an axis of length ``L``
(negative counts from the end) becomes two axes ``(M, W)``, ``W = windowSize`` and ``M = (L -
W) / step + 1`` (integer division: a last partial window is dropped)::

    output[.., m, w, ..] = input[.., m * step + w, ..]

so a rank-3 ``(B1, L, C1)`` with ``axis = 1`` gives ``(B1, M, W, C1)``. The window must fit
(``1 <= W <= L``) and the step must be positive; both are refused at load otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from ._common import where
from ._nd_axes import array_axis, axis, input_count
from .base import ND, Built, CoreMLShape, LayerKind


@dataclass(frozen=True)
class SlidingWindowsAttrs:
    axis: int  # array axis of the windowed axis
    size: int
    step: int


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    input_count(layer, in_shapes, 1)
    p = layer.slidingWindows
    shape = tuple(in_shapes[0])
    a = axis(layer, p.axis, len(shape))
    size, step, length = int(p.windowSize), int(p.step), shape[a]
    if not 1 <= size <= length or step < 1:
        raise ShapeError(
            f"{where(layer)}: windowSize {size} and step {step} do not fit axis {a} of length "
            f"{length}; expected 1 <= windowSize <= {length} and step >= 1"
        )
    count = (length - size) // step + 1
    out = (*shape[:a], count, size, *shape[a + 1 :])
    return Built(SlidingWindowsAttrs(array_axis(a), size, step), {}, [out])


def forward(attrs: SlidingWindowsAttrs, params, xs, keep=False, out=None):
    """``y[.., m, w, ..] = x[.., m * step + w, ..]``."""
    del params, keep, out
    windows = np.lib.stride_tricks.sliding_window_view(xs[0], attrs.size, axis=attrs.axis)
    every = [slice(None)] * windows.ndim
    every[attrs.axis] = slice(None, None, attrs.step)
    picked = np.moveaxis(windows[tuple(every)], -1, attrs.axis + 1)
    return [np.ascontiguousarray(picked)], None


KIND = LayerKind("slidingWindows", build, forward, layouts=(ND,))
