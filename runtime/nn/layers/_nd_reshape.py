"""Runtime, neural-network layer: the forward and backward shared by every ``nd`` kind that only
reshapes (squeeze, expandDims, reshapeStatic/Like/Dynamic, rankPreservingReshape,
flattenTo2D).

In the ``nd`` layout an example's values sit in Core ML's row-major order, so a reshape is a
view with the new shape behind the example axis: nothing moves, forward or backward.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import CoreMLShape


@dataclass(frozen=True)
class ReshapeAttrs:
    in_shape: CoreMLShape
    out_shape: CoreMLShape
    inputs: int = 1  # inputs after the first (a shape) get no gradient


def forward(attrs: ReshapeAttrs, params, xs, keep=False, out=None):
    """``y = x`` viewed as ``(N, *out_shape)``."""
    del params, keep, out
    x = xs[0]
    return [x.reshape(x.shape[0], *attrs.out_shape)], None


def backward(attrs: ReshapeAttrs, params, cache, dys, *, input_grads=True, param_grads=True):
    """``dx = dy`` viewed as ``(N, *in_shape)``; a second input (a shape) gets no gradient."""
    del params, cache, param_grads
    dy = dys[0]
    dx = dy.reshape(dy.shape[0], *attrs.in_shape) if input_grads else None
    return [dx] + [None] * (attrs.inputs - 1), {}
