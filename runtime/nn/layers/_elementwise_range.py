"""Runtime, neural-network layer: the evenly spaced values of ``rangeStatic`` and ``rangeDynamic``
(``numpy.arange``).

``y_i = start + i * step`` for ``i = 0 .. count - 1``, ``count = ceil((end - start) / step)``:
a rank-1 tensor of ``count`` values, computed in float64 from the float32 parameters and
stored in the blob's dtype. A step of 0, an empty range (``count < 1``), a non-finite bound and
a range longer than ``_elementwise_values.MAX_VALUES`` are refused at load: Core ML has no
empty tensor a runtime blob could stand for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from ._common import where
from ._elementwise_values import check_count


@dataclass(frozen=True)
class RangeAttrs:
    start: float
    step: float
    count: int


def arange(layer, start: float, end: float, step: float) -> RangeAttrs:
    """The range ``[start, end)`` by ``step``, checked."""
    bounds = (float(start), float(end), float(step))
    if not all(math.isfinite(v) for v in bounds) or step == 0:
        raise ShapeError(
            f"{where(layer)}: start {start:g}, end {end:g} and step {step:g} must be finite "
            "with a step other than 0"
        )
    count = math.ceil((float(end) - float(start)) / float(step))
    check_count(layer, count, f"the range from {start:g} to {end:g} by {step:g}")
    if count < 1:
        raise ShapeError(
            f"{where(layer)}: the range from {start:g} to {end:g} by {step:g} is empty; the "
            "runtime holds tensors of at least one value"
        )
    return RangeAttrs(float(start), float(step), count)


def range_values(attrs: RangeAttrs, dtype) -> np.ndarray:
    """The ``count`` values ``start + i * step`` as a ``(count,)`` array of ``dtype``."""
    return (attrs.start + np.arange(attrs.count, dtype=np.float64) * attrs.step).astype(dtype)
