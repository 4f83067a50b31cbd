"""Runtime, neural-network layer: numpy-style broadcasting of ``nd`` blobs for the comparison,
logical and ``where`` kinds of the elementwise family.

NeuralNetwork.proto says "Broadcasting is supported" for every comparison and logical layer and
"the shapes must be broadcastable" for ``whereBroadcastable``: shapes align on their last
axis, and along each axis the sizes are equal or one of them is 1 (numpy's rule; the output
has the largest rank). An ``nd`` array carries the runtime's example axis first, so an input
of lower rank gets its missing axes *after* that axis (:func:`aligned`). The ``broadcastTo*``
kinds broadcast one way only, to a given shape (:func:`broadcast_to`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from ._common import where
from .base import CoreMLShape


def broadcast_shape(layer, shapes: list[CoreMLShape]) -> CoreMLShape:
    """The shape every input broadcasts to.

    Raises:
        ShapeError: naming the layer and the shapes, when two sizes of an axis differ and
            neither is 1.
    """
    rank = max(len(s) for s in shapes)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    out = []
    for sizes in zip(*padded, strict=True):
        wide = {int(d) for d in sizes if d != 1}
        if len(wide) > 1:
            raise ShapeError(
                f"{where(layer)}: inputs of shapes {[list(s) for s in shapes]} do not "
                "broadcast: aligned on their last axis, each axis needs equal sizes or 1"
            )
        out.append(wide.pop() if wide else 1)
    return tuple(out)


def aligned(x: np.ndarray, rank: int) -> np.ndarray:
    """``x`` (``(N, *shape)``) viewed with ``rank`` tensor axes: 1s inserted after ``N``."""
    missing = rank - (x.ndim - 1)
    return x.reshape(x.shape[0], *([1] * missing), *x.shape[1:]) if missing else x


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
