"""Runtime, neural-network layer: flat positions of ``gatherAlongAxis`` and ``scatterAlongAxis``.

Both pair every cell of ``indices`` with the cell of a tensor at the same coordinates, except
along ``axis``, where the index's value is the coordinate (``numpy.take_along_axis`` /
``put_along_axis``). ``indices`` has the tensor's rank and shape except along ``axis``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from ._common import where
from ._elementwise_index import grid, integers, strides
from .base import CoreMLShape


@dataclass(frozen=True)
class AlongAttrs:
    label: str  # the layer, for run-time errors
    shape: CoreMLShape  # the tensor indexed
    indices: CoreMLShape
    axis: int  # normalised Core ML axis


def check_indices(layer, shape: CoreMLShape, indices: CoreMLShape, axis: int, what: str) -> None:
    """Refuse ``indices`` whose rank, or size on an axis other than ``axis``, differs."""
    if len(indices) != len(shape) or any(
        i != a for d, (i, a) in enumerate(zip(indices, shape, strict=True)) if d != axis
    ):
        raise ShapeError(
            f"{where(layer)}: {what} of shape {list(indices)} must have the rank and, except "
            f"along axis {axis}, the sizes of the tensor of shape {list(shape)}"
        )


def positions(attrs: AlongAttrs, indices: np.ndarray) -> np.ndarray:
    """Flat positions ``(N, *indices shape)`` into a batch ``(N, *shape)``."""
    n, shape, axis = indices.shape[0], attrs.shape, attrs.axis
    chosen = integers(indices, shape[axis], attrs.label)
    steps = [math.prod(shape), *strides(shape)]
    step = steps[axis + 1]
    steps[axis + 1] = 0  # the index's value gives that coordinate
    return grid((n, *attrs.indices), steps) + chosen.astype(np.int64) * step
