"""Spec side, validation layer: the range arithmetic of Core ML's rank-5 shape inference: a
size that may be unbound, a range of sizes, and the five ranges (Seq, Batch, C, H, W) of one
blob.

Source: coremltools ``mlmodel/src/LayerShapeConstraints.cpp`` (``RangeValue``,
``ShapeRange``, ``ShapeConstraint``). Sizes are C++ ``size_t``: sums and products wrap modulo
2**64, a subtraction below zero clamps to 0. A failure raises :class:`ShapeFailure` with
Core ML's exact text (``"Invalid setValue 3 for range: [4, 4]\\n"``...); the shape rule turns
it into ``"Error determining network blob shapes: <text>"``. Quirks kept: ``intersect``
tests the *receiver* for emptiness (not the result), and an unbound minimum can arise from a
division by 0 and only fails where a value is read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from updatable import proto

_U64 = (1 << 64) - 1
UNBOUND = None  # a RangeValue without a bound ("inf")
RangeValue = int | None  # Core ML's RangeValue: a size, or None when unbound


class ShapeFailure(RuntimeError):
    """``std::runtime_error`` thrown by Core ML's shape inference; ``str()`` is its text.
    ``where`` is set by the pass to the layer or feature being processed."""

    where: str = ""


def text(value: RangeValue) -> str:
    """``operator<<`` of a RangeValue."""
    return "inf" if value is None else str(value)


def value_of(value: RangeValue) -> int:
    """``RangeValue::value()``."""
    if value is None:
        raise ShapeFailure("Attempting to access unbound size_t val from RangeVal.")
    return value


def add(value: RangeValue, other: int) -> RangeValue:
    """``RangeValue + size_t`` / ``+ int`` (a negative ``int`` subtracts)."""
    if value is None:
        return None
    return max(value + other, 0) if other < 0 else (value + other) & _U64


def add_range_value(value: RangeValue, other: RangeValue) -> RangeValue:
    """``RangeValue + RangeValue``: unbound if either is."""
    return None if other is None else add(value, other)


def sub(value: RangeValue, other: int) -> RangeValue:
    """``RangeValue - size_t`` / ``- int``: clamps at 0 (a negative ``int`` adds)."""
    if value is None:
        return None
    return add(value, -other) if other > 0 else (value - other) & _U64


def mul(value: RangeValue, other: RangeValue) -> RangeValue:
    """``RangeValue * size_t`` / ``* RangeValue``."""
    if value is None or other is None:
        return None
    return (value * other) & _U64


def div(value: RangeValue, other: int) -> RangeValue:
    """``RangeValue / size_t``: unbound stays unbound; a bound value divided by 0 throws."""
    if value is None:
        return None
    if other == 0:
        raise ShapeFailure(f"Dividing range {value} by 0.")
    return value // other


def div_round_up(value: RangeValue, other: int) -> RangeValue:
    """``RangeValue::divideAndRoundUp(size_t)``: unbound for 0 or an unbound value."""
    if value is None or other == 0:
        return None
    return 0 if value == 0 else (value - 1) // other + 1


def less_equal(a: RangeValue, b: RangeValue) -> bool:
    """``RangeValue <= RangeValue`` (unbound is above everything, itself included)."""
    return True if b is None else (False if a is None else a <= b)


def greater_equal(a: RangeValue, b: RangeValue) -> bool:
    """``RangeValue >= RangeValue``."""
    return True if a is None else (False if b is None else a >= b)


def greater(a: RangeValue, b: RangeValue) -> bool:
    """``RangeValue > RangeValue``."""
    return True if a is None else (False if b is None else a > b)


class Range:
    """``ShapeRange``: the sizes ``minimum..maximum`` an axis may take (``None``: unbound).

    Immutable: every operation returns a new range (a plain class with slots, not a frozen
    dataclass: the shape pass creates hundreds of thousands of them).
    """

    __slots__ = ("maximum", "minimum")

    def __init__(self, minimum: int | None = 0, maximum: int | None = UNBOUND) -> None:
        self.minimum = minimum
        self.maximum = maximum

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Range):
            return NotImplemented
        return (self.minimum, self.maximum) == (other.minimum, other.maximum)

    def __hash__(self) -> int:
        return hash((self.minimum, self.maximum))

    def __repr__(self) -> str:
        return f"Range{self}"

    def __str__(self) -> str:
        return f"[{text(self.minimum)}, {text(self.maximum)}]"

    @staticmethod
    def between(lo: int, hi: int) -> Range:
        """``ShapeRange(size_t min, size_t max)``."""
        if lo > hi:
            raise ShapeFailure(f"Constructing invalid ShapeRange with {lo}, {hi}")
        return Range(lo, hi)

    @staticmethod
    def from_size_range(size_range: proto.Message) -> Range:
        """``ShapeRange(SizeRange)``: a negative upper bound is unbound."""
        upper = size_range.upperBound
        return Range(size_range.lowerBound & _U64, None if upper < 0 else upper)

    def valid(self, value: RangeValue) -> bool:
        return less_equal(self.minimum, value) and greater_equal(self.maximum, value)

    def set_lower(self, value: RangeValue) -> Range:
        if not self.valid(value):
            raise ShapeFailure(f"Invalid setLower {text(value)} for range: {self}\n")
        return Range(value, self.maximum)

    def set_upper(self, value: RangeValue) -> Range:
        if not self.valid(value):
            raise ShapeFailure(f"Invalid setUpper {text(value)} for range: {self}\n")
        return Range(self.minimum, value)

    def set_value(self, value: int) -> Range:
        if not self.valid(value):
            raise ShapeFailure(f"Invalid setValue {value} for range: {self}\n")
        return Range(value, value)

    def map(
        self, low: Callable[[RangeValue], RangeValue], high: Callable[[RangeValue], RangeValue]
    ) -> Range:
        """A new range whose bounds are ``low`` and ``high`` of this one's, set in order on a
        fresh [0, inf) range (Core ML's ``out.setLower(...); out.setUpper(...)``)."""
        return _fresh(low(self.minimum), high(self.maximum))

    def __add__(self, other: int) -> Range:
        return self.map(lambda v: add(v, other), lambda v: add(v, other))

    def __sub__(self, other: int) -> Range:
        return self.map(lambda v: sub(v, other), lambda v: sub(v, other))

    def __mul__(self, other: int) -> Range:
        return self.map(lambda v: mul(v, other), lambda v: mul(v, other))

    def div_size(self, other: int) -> Range:
        """``ShapeRange / size_t``."""
        return self.map(lambda v: div(v, other), lambda v: div(v, other))

    def div_int(self, other: int) -> Range:
        """``ShapeRange / int``: refuses a divisor <= 0 first."""
        if other <= 0:
            raise ShapeFailure(f"Dividing ShapeRange {self} by negative or zero value {other}")
        return self.div_size(other)

    def div_round_up(self, other: int) -> Range:
        return self.map(lambda v: div_round_up(v, other), lambda v: div_round_up(v, other))

    def plus(self, other: Range) -> Range:
        """``ShapeRange + ShapeRange``."""
        low = add_range_value(self.minimum, other.minimum)
        return _fresh(low, add_range_value(self.maximum, other.maximum))

    def times(self, other: Range) -> Range:
        """``ShapeRange * ShapeRange``."""
        return _fresh(mul(self.minimum, other.minimum), mul(self.maximum, other.maximum))

    def intersect(self, other: Range) -> Range:
        """The common sizes; throws when the receiver itself is empty (Core ML's test)."""
        lower = other.minimum if less_equal(self.minimum, other.minimum) else self.minimum
        upper = other.maximum if greater_equal(self.maximum, other.maximum) else self.maximum
        out = _fresh(lower, upper)
        if greater(self.minimum, self.maximum) or self.minimum is None:
            raise ShapeFailure(f"Invalid intersection between {self} and {other}")
        return out

    def unify(self, other: Range) -> Range:
        """The smallest range holding both (and the gap between them)."""
        lower = self.minimum if less_equal(self.minimum, other.minimum) else other.minimum
        upper = self.maximum if greater_equal(self.maximum, other.maximum) else other.maximum
        return _fresh(lower, upper)

    @property
    def fixed(self) -> bool:
        return self.maximum is not None and self.maximum == self.minimum

    @property
    def min_value(self) -> int:
        return value_of(self.minimum)


def _fresh(lower: RangeValue, upper: RangeValue) -> Range:
    """``ShapeRange out; out.setLower(lower); out.setUpper(upper);``: setting the lower bound of
    [0, inf) always succeeds (sizes are >= 0); the upper one needs ``lower <= upper``."""
    if not less_equal(lower, upper):
        raise ShapeFailure(f"Invalid setUpper {text(upper)} for range: [{text(lower)}, inf]\n")
    return Range(lower, upper)


AXES = ("sequence", "batch", "channel", "height", "width")


class Shape:
    """``ShapeConstraint``: the ranges of a blob's five axes, changed in place."""

    __slots__ = ("name", *AXES)
    # the five axes (AXES), set by name in __init__
    sequence: Range
    batch: Range
    channel: Range
    height: Range
    width: Range

    def __init__(self, name: str = "") -> None:
        self.name = name
        for axis in AXES:
            setattr(self, axis, Range())

    def update(self, axis: str, other: Range) -> None:
        """``update<Axis>Range``: intersect, naming the blob when it fails."""
        try:
            setattr(self, axis, getattr(self, axis).intersect(other))
        except ShapeFailure as failure:
            raise ShapeFailure(f"Invalid {axis} range in blob {self.name}. {failure}") from None

    def set(self, axis: str, value: int) -> None:
        """``set<Axis>``."""
        setattr(self, axis, getattr(self, axis).set_value(value))

    def lower_bound(self, axis: str, value: RangeValue) -> None:
        """``lowerBound<Axis>``: intersect with [value, inf)."""
        setattr(self, axis, getattr(self, axis).intersect(Range(value, UNBOUND)))

    def upper_bound(self, axis: str, value: RangeValue) -> None:
        """``upperBound<Axis>`` (a ``RangeValue``: nothing to do when unbound)."""
        if value is not None:
            setattr(self, axis, getattr(self, axis).intersect(Range(0, value)))

    def copy_from(self, other: Shape, axes: tuple[str, ...] = AXES) -> None:
        """``copyFrom``: intersect every axis with the other blob's, without naming blobs."""
        for axis in axes:
            setattr(self, axis, getattr(self, axis).intersect(getattr(other, axis)))

    @property
    def fixed_chw(self) -> bool:
        return self.channel.fixed and self.height.fixed and self.width.fixed


class BlobShapes(Protocol):
    """What a shape rule reads and narrows: ``propagate.Shapes`` (blob name -> its ranges).
    A protocol here, so that the rules need not import the pass that calls them."""

    def get(self, name: str) -> Shape: ...

    def output(self, layer: proto.NeuralNetworkLayer, index: int) -> Shape: ...

    def copy_of(self, name: str) -> Shape: ...
