"""Assertions shared by the validator tests (``tests/test_validate_*.py``)."""

from __future__ import annotations

from updatable.validation import Issue, core_ml_issue


def expect_issue(spec, code, message, result_type=None, where=None) -> Issue:
    """Core ML's first issue for ``spec`` has this rule id and exact message (and, when given,
    result type and location); it is an error, reported without a trailing newline."""
    issue = core_ml_issue(spec)
    assert issue is not None, f"expected Core ML to reject the model with {code}"
    assert (issue.code, issue.message) == (code, message)
    assert issue.severity == "error" and not issue.message.endswith("\n")
    if result_type is not None:
        assert issue.result_type == result_type
    if where is not None:
        assert issue.where == where
    return issue
