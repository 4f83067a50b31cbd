"""Command line: ``updatable validate MODEL``: would Core ML accept this model, and will it
train?"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from updatable.cli._common import EXIT_INVALID, EXIT_OK, verb_parser

if TYPE_CHECKING:
    from updatable.validation.issues import Issue

EXAMPLES = """
  updatable validate MNISTDigitClassifier.mlmodel
  updatable validate model.mlmodel --json
  updatable validate model.mlmodel --no-lint    # Core ML's own rules only
"""


def add_parser(subparsers: Any) -> None:
    """Register the ``validate`` verb."""
    parser = verb_parser(
        subparsers,
        "validate",
        "check a model with Core ML's validator rules and our lint",
        "Check a model with the same rules and messages as Core ML's validator (the first "
        "error it would report), then with lint rules for what Core ML does not check but "
        "stops a model from training. Prints one line per issue: CODE severity where: message.",
        EXAMPLES,
        exit_codes={
            0: "the model is valid: Core ML accepts it (warnings, if any, are printed)",
            1: "the model is invalid: at least one issue is an error",
        },
    )
    parser.add_argument("model", metavar="MODEL", help="the .mlmodel file")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--no-lint", action="store_true", help="run Core ML's rules only")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Validate the model; exit 1 if any issue is an error."""
    from updatable.spec import load
    from updatable.validation import validate

    issues = validate(load(args.model), lint=not args.no_lint)
    valid = not any(issue.severity == "error" for issue in issues)
    if args.json:
        document = {
            "model": args.model,
            "valid": valid,
            "issues": [dataclasses.asdict(issue) for issue in issues],
        }
        print(json.dumps(document, indent=2))
    else:
        for line in format_issues(issues):
            print(line)
        errors = sum(issue.severity == "error" for issue in issues)
        verdict = "valid" if valid else "invalid"
        print(f"{args.model}: {verdict} ({errors} error(s), {len(issues) - errors} warning(s))")
    return EXIT_OK if valid else EXIT_INVALID


def format_issues(issues: Sequence[Issue]) -> list[str]:
    """``CODE severity where: message``, one line per issue."""
    return [f"{i.code} {i.severity} {i.where}: {i.message}" for i in issues]
