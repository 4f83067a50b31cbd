"""Spec side, validation layer: Core ML's validator as tables of rule functions, plus our lint.

``validate(spec)`` / ``check(spec)`` live in :mod:`~updatable.validation.validator`; the rule
modules beside it each cover one model type or concern (see the validator's table of rule
ids).
"""

from __future__ import annotations

from updatable.validation.issues import (
    COMPAT,
    EMPTY_INPUT,
    FEATURE_TYPE,
    INTERFACE,
    MODEL_PARAMS,
    MULTI_FUNCTION,
    NAME_MISMATCH,
    SHAPES,
    TYPE_MISMATCH,
    UNSUPPORTED,
    UPD_CONFIG,
    UPD_PARAMS,
    At,
    Issue,
    Rule,
    Severity,
)
from updatable.validation.validator import check, core_ml_issue, lint_issues, validate

__all__ = [
    "COMPAT",
    "EMPTY_INPUT",
    "FEATURE_TYPE",
    "INTERFACE",
    "MODEL_PARAMS",
    "MULTI_FUNCTION",
    "NAME_MISMATCH",
    "SHAPES",
    "TYPE_MISMATCH",
    "UNSUPPORTED",
    "UPD_CONFIG",
    "UPD_PARAMS",
    "At",
    "Issue",
    "Rule",
    "Severity",
    "check",
    "core_ml_issue",
    "lint_issues",
    "validate",
]
