"""Runtime, neural-network layer: shapes and scalars that elementwise-family kinds read from their
parameters or from the values of an input (``LayerKind.value_inputs``).

A kind whose output shape comes from an input's *values* (``fillDynamic``,
``broadcastToDynamic``, ``rangeDynamic``, the ``random*Dynamic`` kinds, ``topK``'s K,
``oneHot``'s depth, ``cumSum``'s axis, ``whereNonZero``) gets those values from the compiler
when no model input feeds them (converters compute them from constants and ``getShape``): the
layer then has a static shape. When a model input does, the build raises the core's
``NeedsValues`` (:func:`unknown`): ``runtime.Model`` then compiles the network once per set of
such values and batches the examples that share them (``runtime.nn.dynamic``).
Shapes hold positive sizes: Core ML has no empty tensor a runtime blob could stand for; and
at most :data:`MAX_VALUES` values, the count a 32-bit index reaches (a parameter asking for more
is refused at load rather than failing to allocate while a prediction runs).
"""

from __future__ import annotations

import math

import numpy as np

from updatable.errors import ShapeError

from ._common import where
from ._nd_axes import unknown_value
from .base import NeedsValues

MAX_VALUES = 2**31 - 1  # values per tensor


def unknown(layer, what: str) -> NeedsValues:
    """The signal for a value the compiler cannot know: a model input feeds it."""
    return unknown_value(layer, what)


def positive_shape(layer, dims, what: str) -> tuple[int, ...]:
    """``dims`` as a shape of positive sizes; refuses an empty or zero-size shape."""
    shape = tuple(int(d) for d in dims)
    if not shape or min(shape) < 1:
        raise ShapeError(
            f"{where(layer)}: {what} {list(shape)} must be a non-empty list of positive sizes"
        )
    check_count(layer, math.prod(shape), what)
    return shape


def check_count(layer, count: int, what: str) -> None:
    """Refuse a tensor of more than :data:`MAX_VALUES` values."""
    if count > MAX_VALUES:
        raise ShapeError(
            f"{where(layer)}: {what} asks for a tensor of {count} values; the runtime holds at "
            f"most {MAX_VALUES} per tensor"
        )


def whole_numbers(layer, value: np.ndarray, what: str) -> list[int]:
    """The values of a rank-1 tensor of whole numbers (a shape, a count) as ints."""
    flat = np.asarray(value, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(flat)) or np.any(flat != np.round(flat)):
        raise ShapeError(f"{where(layer)}: {what} must hold whole numbers; got {flat.tolist()}")
    return [int(v) for v in flat]


def shape_from(layer, value: np.ndarray | None, what: str) -> tuple[int, ...]:
    """The output shape held by an input's value (a rank-1 tensor)."""
    if value is None:
        raise unknown(layer, what)
    if np.ndim(value) != 1:
        raise ShapeError(
            f"{where(layer)}: {what} must be a rank-1 tensor; got shape {list(np.shape(value))}"
        )
    return positive_shape(layer, whole_numbers(layer, value, what), what)


def scalar_from(layer, value: np.ndarray | None, what: str) -> float:
    """The single value of an input holding one number (shape ``(1,)``, or any of size 1)."""
    if value is None:
        raise unknown(layer, what)
    if math.prod(np.shape(value)) != 1:
        raise ShapeError(
            f"{where(layer)}: {what} must hold one value; got a tensor of shape "
            f"{list(np.shape(value))}"
        )
    return float(np.asarray(value).reshape(-1)[0])
