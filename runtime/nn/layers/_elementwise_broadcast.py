"""Runtime, neural-network layer: one-way broadcasting of the ``broadcastTo*`` kinds (``Like``,
``Static``, ``Dynamic``): an input stretched to a given shape.

Shapes align on their last axis (numpy's rule, as the core's ``_nd_broadcast`` applies it to
the two-way broadcasting of the comparison, logical and ``where`` kinds); here each size of the
input must equal the target's or be 1, and the target has at least the input's rank. An ``nd``
array carries the runtime's example axis first, so the input's missing axes go *after* it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from ._common import where
from ._nd_broadcast import aligned
from .base import CoreMLShape


def stretched(x: np.ndarray, shape: CoreMLShape) -> np.ndarray:
    """``x`` (``(N, *s)``, ``s`` broadcastable to ``shape``) as a contiguous ``(N, *shape)``."""
    view = np.broadcast_to(aligned(x, len(shape)), (x.shape[0], *shape))
    return np.ascontiguousarray(view)


def broadcast_to(layer, shape: CoreMLShape, target: CoreMLShape) -> CoreMLShape:
    """``target``, once checked that a tensor of ``shape`` broadcasts to it one way: no more
    axes than ``target``, and each size (aligned on the last axis) equal or 1."""
    target = tuple(int(d) for d in target)
    fits = len(shape) <= len(target) and all(
        s in (1, t) for s, t in zip(reversed(shape), reversed(target), strict=False)
    )
    if not fits:
        raise ShapeError(
            f"{where(layer)}: a tensor of shape {list(shape)} does not broadcast to "
            f"{list(target)}: aligned on the last axis, each size must equal the target's or "
            "be 1, and the target needs at least as many axes"
        )
    return target


@dataclass(frozen=True)
class BroadcastToAttrs:
    shape: CoreMLShape  # the output's shape


def broadcast_to_forward(attrs: BroadcastToAttrs, params, xs, keep=False, out=None):
    """The forward of the ``broadcastTo*`` kinds: the first input stretched to the shape (the
    other input only gives the shape)."""
    del params, keep, out
    return [stretched(xs[0], attrs.shape)], None
