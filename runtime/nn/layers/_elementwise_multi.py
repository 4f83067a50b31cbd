"""Runtime, neural-network layer: multi-indices of ``gatherND`` and ``scatterND``.

Both read ``indices`` of shape ``[I0, .., I(K-1), R]`` as ``I0 * .. * I(K-1)`` points of ``R``
coordinates into the first ``R`` axes of a tensor (``R`` at most its rank); each point selects
the slice ``tensor[p0, .., p(R-1), :..]`` of ``prod(shape[R:])`` values. :func:`positions`
turns a batch of index tensors into the flat positions of every selected value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from ._common import where
from ._elementwise_index import grid, strides
from .base import CoreMLShape


@dataclass(frozen=True)
class Points:
    shape: CoreMLShape  # the tensor the points index
    count: int  # I0 * .. * I(K-1)
    depth: int  # R, coordinates per point


def points(layer, shape: CoreMLShape, indices: CoreMLShape) -> Points:
    """The points of ``indices`` into a tensor of ``shape``, checked against the proto."""
    depth = int(indices[-1])
    if not 1 <= depth <= len(shape):
        raise ShapeError(
            f"{where(layer)}: the last axis of indices {list(indices)} holds {depth} "
            f"coordinates per point; a tensor of shape {list(shape)} takes 1 to {len(shape)}"
        )
    return Points(tuple(shape), math.prod(indices[:-1]), depth)


def positions(found: Points, indices: np.ndarray, read) -> np.ndarray:
    """Flat positions ``(N, count, slice size)`` into a batch ``(N, *shape)`` of tensors;
    ``read(values, sizes)`` turns the float coordinates into int64 indices."""
    n, shape, depth = indices.shape[0], found.shape, found.depth
    coordinates = read(indices.reshape(n, found.count, depth), np.asarray(shape[:depth]))
    steps = strides(shape)
    start = coordinates @ np.asarray(steps[:depth], dtype=np.int64)  # (N, count)
    inner = math.prod(shape[depth:])
    ramp = grid((n, found.count, inner), (math.prod(shape), 0, 1))
    return ramp + start[:, :, None]
