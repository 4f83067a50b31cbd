"""Spec side, base layer: hyperparameter constraints: a default value plus the values a user may
choose at load time.

``IntParam`` and ``DoubleParam`` mirror Core ML's ``Int64Parameter`` and ``DoubleParameter``
(``Parameters.proto``): a ``defaultValue`` and an optional ``AllowedValues`` oneof, a
``range`` (inclusive ``[minValue, maxValue]``) or, for integers only, a ``set``. They are frozen
dataclasses that check themselves on construction, so a spec written from them always passes
Core ML's parameter validator (``ParameterValidator.cpp``). coremltools' ``RangeParam`` and
``Batch`` never check that the default lies in its range or set; these do::

    IntParam(8, choices=(4, 8, 16), positive=True)   # ok
    IntParam(3, choices=(4, 8, 16))                  # ParameterError: 3 is not allowed
    DoubleParam(0.01, range=(0.0, 1.0))              # ok

``positive`` reproduces Core ML's ``shouldBePositive`` rule (``miniBatchSize``, ``epochs``,
kNN ``numberOfNeighbors``): the default, every allowed value and both range bounds must be > 0.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from updatable import proto
from updatable.errors import ParameterError

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def as_int64(value: Any, what: str) -> int:
    """``value`` as a Python int in the Int64 range; ``what`` names it in the error."""
    # bool is an int subclass in Python, but True as a batch size is a bug, not a 1.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ParameterError(f"{what} must be an integer; got {value!r} ({type(value).__name__})")
    number = int(value)
    if not INT64_MIN <= number <= INT64_MAX:
        raise ParameterError(f"{what} must fit in a signed 64-bit integer; got {number}")
    return number


def as_finite_float(value: Any, what: str) -> float:
    """``value`` as a finite Python float; ``what`` names it in the error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterError(f"{what} must be a number; got {value!r} ({type(value).__name__})")
    number = float(value)
    if not math.isfinite(number):
        raise ParameterError(f"{what} must be a finite number; got {number}")
    return number


def _pair(value: Any, what: str) -> tuple[Any, ...]:
    try:
        low, high = value
    except (TypeError, ValueError):
        raise ParameterError(f"{what} must be a (min, max) pair; got {value!r}") from None
    return low, high


@dataclass(frozen=True)
class IntParam:
    """An ``Int64Parameter``: ``default`` plus either ``range=(min, max)`` or ``choices``.

    Args:
        default: the value used when the app does not override it.
        range: inclusive bounds ``(min, max)``; written as ``Int64Range``.
        choices: the allowed values, written as ``Int64Set`` in the given order (a Python
            ``set`` is sorted first so the file is reproducible). Must not repeat a value.
        positive: Core ML's ``shouldBePositive`` (batch size, epochs, k).
        name: the Core ML parameter name, used in error messages.

    Raises:
        ParameterError: the default is not allowed, both or an empty constraint were given,
            a bound is inverted, or a value is non-positive where Core ML requires positive.
    """

    default: int
    range: tuple[int, int] | None = None
    choices: tuple[int, ...] | None = None
    positive: bool = False
    name: str = field(default="value", compare=False)

    def __post_init__(self) -> None:
        name = self.name
        default = as_int64(self.default, f"the default of '{name}'")
        object.__setattr__(self, "default", default)
        if self.range is not None and self.choices is not None:
            raise ParameterError(
                f"'{name}': give either a range or a set of allowed values, not both "
                "(Int64Parameter.AllowedValues is a oneof)"
            )
        if self.positive and default <= 0:
            raise ParameterError(
                f"'{name}' must be a positive integer (Core ML requires it); got {default}"
            )
        if self.range is not None:
            low, high = _pair(self.range, f"the range of '{name}'")
            low = as_int64(low, f"the range minimum of '{name}'")
            high = as_int64(high, f"the range maximum of '{name}'")
            if low > high:
                raise ParameterError(
                    f"'{name}': range minimum {low} is greater than maximum {high}"
                )
            if self.positive and low <= 0:
                raise ParameterError(
                    f"'{name}': the range minimum must be positive (Core ML requires it); got {low}"
                )
            if not low <= default <= high:
                raise ParameterError(
                    f"'{name}': default {default} lies outside the allowed range [{low}, {high}]"
                )
            object.__setattr__(self, "range", (low, high))
        if self.choices is not None:
            values = self.choices
            if isinstance(values, (set, frozenset)):
                values = sorted(values)
            if not isinstance(values, Iterable) or isinstance(values, (str, bytes)):
                raise ParameterError(f"'{name}': choices must be a sequence of integers")
            values = tuple(as_int64(v, f"an allowed value of '{name}'") for v in values)
            if not values:
                raise ParameterError(f"'{name}': the set of allowed values is empty")
            repeated = sorted({v for v in values if values.count(v) > 1})
            if repeated:
                raise ParameterError(f"'{name}': allowed values repeat {repeated}; got {values}")
            if self.positive and min(values) <= 0:
                raise ParameterError(
                    f"'{name}': allowed values must be positive (Core ML requires it); "
                    f"got {list(values)}"
                )
            if default not in values:
                raise ParameterError(
                    f"'{name}': default {default} is not among the allowed values {list(values)}"
                )
            object.__setattr__(self, "choices", values)

    def allows(self, value: int) -> bool:
        """Whether an app may override the default with ``value`` (Core ML's load-time check)."""
        if self.positive and value <= 0:
            return False
        if self.range is not None:
            return self.range[0] <= value <= self.range[1]
        if self.choices is not None:
            return value in self.choices
        return True

    def to_proto(self) -> proto.Int64Parameter:
        """A new ``Int64Parameter`` message; assign it with ``CopyFrom`` (replaces, not merges)."""
        message = proto.Int64Parameter(defaultValue=self.default)
        if self.range is not None:
            message.range.minValue, message.range.maxValue = self.range
        elif self.choices is not None:
            message.set.values.extend(self.choices)
        return message

    @classmethod
    def from_proto(
        cls, message: proto.Message, *, name: str = "value", positive: bool = False
    ) -> IntParam:
        """Read an ``Int64Parameter``; raises ``ParameterError`` if Core ML would refuse it."""
        allowed = message.WhichOneof("AllowedValues")
        return cls(
            default=message.defaultValue,
            range=(message.range.minValue, message.range.maxValue) if allowed == "range" else None,
            choices=tuple(message.set.values) if allowed == "set" else None,
            positive=positive,
            name=name,
        )

    def describe(self) -> str:
        """``"8 (allowed: 4, 8, 16)"``, ``"5 (range [1, 1000])"`` or ``"42 (any value)"``."""
        return f"{self.default} ({_allowed_text(self.range, self.choices)})"


@dataclass(frozen=True)
class DoubleParam:
    """A ``DoubleParameter``: ``default`` plus an optional inclusive ``range=(min, max)``.

    Core ML's ``DoubleParameter`` has no allowed set. Values must be finite.

    Raises:
        ParameterError: the default lies outside the range, or the range is inverted.
    """

    default: float
    range: tuple[float, float] | None = None
    name: str = field(default="value", compare=False)

    def __post_init__(self) -> None:
        name = self.name
        default = as_finite_float(self.default, f"the default of '{name}'")
        object.__setattr__(self, "default", default)
        if self.range is not None:
            low, high = _pair(self.range, f"the range of '{name}'")
            low = as_finite_float(low, f"the range minimum of '{name}'")
            high = as_finite_float(high, f"the range maximum of '{name}'")
            if low > high:
                raise ParameterError(
                    f"'{name}': range minimum {low} is greater than maximum {high}"
                )
            if not low <= default <= high:
                raise ParameterError(
                    f"'{name}': default {default:g} lies outside the allowed range "
                    f"[{low:g}, {high:g}]"
                )
            object.__setattr__(self, "range", (low, high))

    def allows(self, value: float) -> bool:
        """Whether an app may override the default with ``value``."""
        return self.range is None or self.range[0] <= value <= self.range[1]

    def to_proto(self) -> proto.DoubleParameter:
        """A new ``DoubleParameter`` message; assign it with ``CopyFrom``."""
        message = proto.DoubleParameter(defaultValue=self.default)
        if self.range is not None:
            message.range.minValue, message.range.maxValue = self.range
        return message

    @classmethod
    def from_proto(cls, message: proto.Message, *, name: str = "value") -> DoubleParam:
        """Read a ``DoubleParameter``; raises ``ParameterError`` if Core ML would refuse it."""
        has_range = message.WhichOneof("AllowedValues") == "range"
        return cls(
            default=message.defaultValue,
            range=(message.range.minValue, message.range.maxValue) if has_range else None,
            name=name,
        )

    def describe(self) -> str:
        """``"0.01 (range [0, 1])"`` or ``"0.9 (any value)"``."""
        return f"{self.default:g} ({_allowed_text(self.range, None)})"


def int_param(value: Any, name: str, *, positive: bool = False, plain: str = "set") -> IntParam:
    """``value`` as an :class:`IntParam` named ``name``.

    A plain integer gets coremltools' constraint: ``plain="set"`` allows only that value (how
    coremltools writes ``miniBatchSize`` and ``epochs``), ``plain="none"`` leaves it unbounded
    (the shuffle ``seed``). An ``IntParam`` is re-checked under ``name`` and ``positive``.
    """
    if isinstance(value, IntParam):
        return dataclasses.replace(value, name=name, positive=value.positive or positive)
    if isinstance(value, DoubleParam):
        raise ParameterError(f"'{name}' is an integer parameter; got a DoubleParam")
    value = as_int64(value, f"'{name}'")
    if plain == "set":
        return IntParam(value, choices=(value,), positive=positive, name=name)
    return IntParam(value, positive=positive, name=name)


def double_param(
    value: Any, name: str, *, plain_range: tuple[float, float] | None = (0.0, 1.0)
) -> DoubleParam:
    """``value`` as a :class:`DoubleParam` named ``name``.

    A plain number gets ``plain_range``, by default coremltools' ``[0, 1]``; a number outside
    it is refused (coremltools would write a model Core ML rejects): pass a ``DoubleParam``
    with a wider range instead.
    """
    if isinstance(value, DoubleParam):
        return dataclasses.replace(value, name=name)
    if isinstance(value, IntParam):
        raise ParameterError(f"'{name}' is a floating-point parameter; got an IntParam")
    value = as_finite_float(value, f"'{name}'")
    if plain_range is not None and not plain_range[0] <= value <= plain_range[1]:
        raise ParameterError(
            f"'{name}' = {value:g} lies outside the default allowed range "
            f"[{plain_range[0]:g}, {plain_range[1]:g}]; pass DoubleParam({value:g}, "
            "range=(min, max)) to allow it"
        )
    return DoubleParam(value, range=plain_range, name=name)


def describe_proto(message: proto.Message) -> dict[str, Any]:
    """A JSON-ready view of any ``Int64Parameter`` / ``DoubleParameter``, valid or not.

    ``{"default": 8, "set": [4, 8, 16]}``, ``{"default": 0.01, "range": [0.0, 1.0]}`` or
    ``{"default": 42}`` (no constraint). Used by ``updatable inspect``.
    """
    view: dict[str, Any] = {"default": message.defaultValue}
    allowed = message.WhichOneof("AllowedValues")
    if allowed == "range":
        view["range"] = [message.range.minValue, message.range.maxValue]
    elif allowed == "set":
        view["set"] = list(message.set.values)
    return view


def _allowed_text(value_range: Any, choices: Any) -> str:
    if value_range is not None:
        return f"range [{value_range[0]:g}, {value_range[1]:g}]"
    if choices is not None:
        return "allowed: " + ", ".join(str(v) for v in choices)
    return "any value"
