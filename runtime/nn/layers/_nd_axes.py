"""Runtime, neural-network layer: axes and shapes of N-D layer kinds, shared by the ``nd`` units.

Core ML counts a tensor's axes from 0 (its first axis, often a batch of 1) and, where a
parameter says "supports negative values", from the end: ``-1`` is the last axis. An ``nd``
array holds the runtime's example axis first, so Core ML axis ``a`` is array axis ``a + 1``
and a negative axis is the same from the end (:func:`array_axis`).
"""

from __future__ import annotations

import math

from updatable.errors import ShapeError

from ._common import where
from .base import NeedsValues


def axis(layer, value: int, rank: int, what: str = "axis") -> int:
    """Core ML axis ``value`` of a rank-``rank`` tensor as ``0 .. rank - 1``.

    Raises:
        ShapeError: naming the layer, when ``value`` is outside ``[-rank, rank - 1]``.
    """
    value = int(value)
    if not -rank <= value < rank:
        raise ShapeError(
            f"{where(layer)}: {what} {value} is out of range for a tensor of rank {rank}; "
            f"expected a value in [-{rank}, {rank - 1}]"
        )
    return value + rank if value < 0 else value


def axes(layer, values, rank: int, what: str = "axes") -> list[int]:
    """Distinct Core ML axes, normalised and sorted (see :func:`axis`)."""
    resolved = [int(v) + rank if int(v) < 0 else int(v) for v in values]
    if len(set(resolved)) != len(resolved) or any(a < 0 or a >= rank for a in resolved):
        raise ShapeError(
            f"{where(layer)}: {what} {[int(v) for v in values]} must be distinct and within "
            f"[-{rank}, {rank - 1}] for a tensor of rank {rank}"
        )
    return sorted(resolved)


def array_axis(core_ml_axis: int) -> int:
    """The ``nd`` array axis of a normalised Core ML axis (the example axis comes first)."""
    return core_ml_axis + 1


def target_shape(layer, target, in_shape, what: str = "targetShape") -> tuple[int, ...]:
    """A reshape target of positive sizes holding the values of a tensor of ``in_shape``.

    Core ML writes every size out; like numpy (and Core ML's own shape inference for
    ``reshapeDynamic``), one ``-1`` stands for the size the others leave, and ``0`` copies
    nothing: it is refused, as is a target whose sizes do not multiply to ``size``.
    """
    dims, size = [int(d) for d in target], math.prod(in_shape)
    if not dims:
        raise ShapeError(f"{where(layer)}: {what} is empty; expected the output's shape")
    unknown = [i for i, d in enumerate(dims) if d == -1]
    if len(unknown) > 1 or any(d == 0 or d < -1 for d in dims):
        raise ShapeError(
            f"{where(layer)}: {what} {dims} must hold positive sizes (at most one -1 for the "
            "size the others leave)"
        )
    known = math.prod(d for d in dims if d != -1)
    if unknown and known and size % known == 0:
        dims[unknown[0]] = size // known
    if math.prod(dims) != size:
        raise ShapeError(
            f"{where(layer)}: cannot reshape a tensor of shape {list(in_shape)} ({size} values) "
            f"into {what} {dims} ({math.prod(dims)} values)"
        )
    return tuple(dims)


def input_count(layer, in_shapes, low: int, high: int | None = None) -> None:
    """Refuse a layer with fewer than ``low`` or more than ``high`` (default ``low``) inputs."""
    high = low if high is None else high
    if not low <= len(in_shapes) <= high:
        expected = str(low) if low == high else f"{low} to {high}"
        raise ShapeError(
            f"{where(layer)}: takes {expected} input{'s' if high > 1 else ''}; got {len(in_shapes)}"
        )


def integers(layer, values, what: str) -> list[int]:
    """A compile-time value (a float tensor holding integers, as Core ML keeps indices and
    shapes) as Python ints.

    Raises:
        ShapeError: naming the layer, when a value is not a whole number.
    """
    flat = [float(v) for v in values.reshape(-1)]
    if any(v != int(v) for v in flat):
        raise ShapeError(f"{where(layer)}: {what} {flat} must hold whole numbers")
    return [int(v) for v in flat]


def unknown_value(layer, what: str) -> NeedsValues:
    """The error of a shape that depends on values known only when the network runs (the
    network engine then compiles the network per set of values, ``runtime.nn.dynamic``)."""
    return NeedsValues(
        f"{where(layer)}: its output shape depends on the values of its {what}, which come "
        "from the model inputs; the network compiles again for each set of such values "
        "(runtime.Model does this), a static network cannot hold it",
        layer.name,
    )


def at_least(layer, in_shapes, low: int) -> None:
    """Refuse a layer with fewer than ``low`` inputs."""
    if len(in_shapes) < low:
        raise ShapeError(f"{where(layer)}: takes at least {low} inputs; got {len(in_shapes)}")
