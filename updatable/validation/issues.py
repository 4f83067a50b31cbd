"""Spec side, validation layer: the record of one problem found in a model, and where it sits.

Every rule module yields :class:`Issue` values located with :class:`At`; the result type names
are Core ML's (``mlmodel/src/ResultType.hpp``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from updatable import proto

Severity = Literal["error", "warning"]

# Core ML result type names (mlmodel/src/ResultType.hpp).
COMPAT = "INVALID_COMPATIBILITY_VERSION"
UNSUPPORTED = "UNSUPPORTED_COMPATIBILITY_VERSION"
INTERFACE = "INVALID_MODEL_INTERFACE"
MODEL_PARAMS = "INVALID_MODEL_PARAMETERS"
UPD_PARAMS = "INVALID_UPDATABLE_MODEL_PARAMETERS"
UPD_CONFIG = "INVALID_UPDATABLE_MODEL_CONFIGURATION"
TYPE_MISMATCH = "TYPE_MISMATCH"
FEATURE_TYPE = "UNSUPPORTED_FEATURE_TYPE_FOR_MODEL_TYPE"
NAME_MISMATCH = "INTERFACE_FEATURE_NAME_MISMATCH"
EMPTY_INPUT = "MODEL_TYPE_DOES_NOT_SUPPORT_EMPTY_INPUT"
MULTI_FUNCTION = "MODEL_TYPE_DOES_NOT_SUPPORT_MULTI_FUNCTION"
# not an error for Core ML (``Result::good()`` accepts it): the rank-5 shape pass failed (Y8)
SHAPES = "POTENTIALLY_INVALID_NEURAL_NETWORK_SHAPES"


@dataclass(frozen=True)
class Issue:
    """One problem found in a model.

    Attributes:
        code: stable rule id, e.g. ``"C17"`` (Core ML rule) or ``"X2"`` (our lint).
        severity: ``"error"`` (Core ML rejects the model, or it cannot train) or ``"warning"``.
        where: the model, layer or parameter, e.g. ``"models[1]/layers['dense_1']"``.
        message: Core ML's exact text for Core ML rules; our explanation for lint rules.
        result_type: Core ML's result type name; empty for lint rules.
    """

    code: str
    severity: Severity
    where: str
    message: str
    result_type: str = ""

    def __str__(self) -> str:
        return f"{self.severity} {self.code} [{self.where}]: {self.message}"


@dataclass(frozen=True)
class At:
    """Where a model sits: ``""`` for the top level, ``"models[1]/"`` inside a pipeline."""

    prefix: str = ""

    def where(self, item: str = "") -> str:
        """The path of ``item`` (a layer, a parameter...) in this model."""
        if item:
            return self.prefix + item
        return self.prefix.rstrip("/") or "model"

    def sub(self, index: int) -> At:
        """The position of sub-model ``index`` of the pipeline at this position."""
        return At(f"{self.prefix}models[{index}]/")

    def error(self, code: str, item: str, message: str, result_type: str) -> Issue:
        """A Core ML error; trailing ``std::endl`` newlines are dropped from ``message``."""
        return Issue(code, "error", self.where(item), message.rstrip("\n"), result_type)

    def warning(self, code: str, item: str, message: str, result_type: str) -> Issue:
        """A Core ML result that is not an error: Core ML accepts the model (Y8)."""
        return Issue(code, "warning", self.where(item), message.rstrip("\n"), result_type)

    def lint(self, code: str, severity: Severity, item: str, message: str) -> Issue:
        """One of our own findings (no Core ML result type)."""
        return Issue(code, severity, self.where(item), message)


Rule = Callable[[proto.Model, At], Iterator[Issue]]


TOP = At()  # the top-level model
