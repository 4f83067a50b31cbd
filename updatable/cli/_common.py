"""Command line: what every verb shares: its parser skeleton, error handling and exit codes."""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path
from typing import Any

from updatable.errors import (
    LayerNotFoundError,
    MissingDependencyError,
    ModelFileError,
    ParameterError,
    ResourceLimitError,
    UnknownArgumentError,
    UpdatableError,
)

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_MISSING_DEPENDENCY = 0, 1, 2, 3
EXIT_INTERRUPTED = 130  # the shell's code for a command ended by Ctrl-C (128 + SIGINT)
# What each exit code means for every verb; a verb passes its own wording of a code to
# ``verb_parser`` (``exit_codes=``) where it means something more precise there.
EXIT_CODE_MEANINGS = {
    EXIT_OK: "success",
    EXIT_INVALID: "the model is invalid, or cannot do what was asked of it",
    EXIT_USAGE: "usage error, bad option value, a file that cannot be read or written, or "
    "work past a resource bound (memory, sizes; the message names the bound)",
    EXIT_MISSING_DEPENDENCY: "an optional package this command needs is not installed (the "
    "message says which, and the pip command that installs it); checked before any work "
    "starts",
    EXIT_INTERRUPTED: "interrupted with Ctrl-C",
}


def exit_codes_help(overrides: dict[int, str] | None = None) -> str:
    """The ``exit codes:`` section of a ``--help``: ``EXIT_CODE_MEANINGS`` with a verb's own
    wording of some codes (``overrides``), wrapped to 88 columns."""
    import textwrap

    meanings = {**EXIT_CODE_MEANINGS, **(overrides or {})}
    lines = ["exit codes:"]
    for code in sorted(meanings):
        lines += textwrap.wrap(
            meanings[code], 88, initial_indent=f"  {code:<5}", subsequent_indent=" " * 7
        )
    return "\n".join(lines)


EXIT_CODES_HELP = exit_codes_help()

# Errors that mean "the command line or a file is wrong" rather than "the model is".
_USAGE_ERRORS = (
    ModelFileError,
    ParameterError,
    ResourceLimitError,
    UnknownArgumentError,
    LayerNotFoundError,
    OSError,
)


def verb_parser(
    subparsers: Any,
    name: str,
    summary: str,
    description: str,
    examples: str,
    exit_codes: dict[int, str] | None = None,
) -> argparse.ArgumentParser:
    """A sub-parser for ``name`` whose help ends with ``examples`` and the exit codes (the
    shared meanings, with the verb's own wording of the codes in ``exit_codes``)."""
    codes = exit_codes_help(exit_codes)
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help=summary,
        description=description,
        epilog=f"examples:\n{examples.strip(chr(10)).rstrip()}\n\n{codes}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # SUPPRESS: a sub-parser default would overwrite `updatable --debug VERB`.
    parser.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )
    return parser


def run_verb(args: argparse.Namespace) -> int:
    """Call ``args.run(args)``, turning errors into one line on stderr and an exit code."""
    try:
        code: int = args.run(args)
        return code
    except KeyboardInterrupt:
        print(f"updatable {args.verb}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # output piped into `head`: not an error of ours
        sys.stderr.close()
        return EXIT_OK
    except Exception as exc:
        if getattr(args, "debug", False):
            traceback.print_exc()
        if isinstance(exc, MissingDependencyError):  # also an ImportError: checked first
            code = EXIT_MISSING_DEPENDENCY
        elif isinstance(exc, _USAGE_ERRORS):
            code = EXIT_USAGE
        elif isinstance(exc, UpdatableError):
            code = EXIT_INVALID
        else:
            code = EXIT_INVALID
        text = str(exc)
        if code == EXIT_INVALID and not isinstance(exc, UpdatableError):
            text = f"unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)"
        print(f"updatable {args.verb}: error: {text}", file=sys.stderr)
        return code


def split_list(text: str) -> list[str]:
    """``"a,b, c"`` -> ``["a", "b", "c"]`` (empty items dropped)."""
    return [item.strip() for item in text.split(",") if item.strip()]


def int_list(text: str) -> tuple[int, ...]:
    """argparse type for ``1,2,8,16``."""
    try:
        return tuple(int(item) for item in split_list(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected integers separated by commas; got {text!r}"
        ) from None


def number_pair(text: str) -> tuple[float, float]:
    """argparse type for ``0,1`` (a min,max range)."""
    items = split_list(text)
    try:
        low, high = (float(item) for item in items)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN,MAX; got {text!r}") from None
    return low, high


def int_pair(text: str) -> tuple[int, int]:
    """argparse type for ``1,64`` (an integer min,max range)."""
    values = int_list(text)
    if len(values) != 2:
        raise argparse.ArgumentTypeError(f"expected MIN,MAX; got {text!r}")
    return values[0], values[1]


# -- the output grammar shared by every verb ------------------------------------------------
# MODEL is the first positional argument; every file or directory a verb writes is named by
# -o/--out; an input is never overwritten unless --in-place is given. The spellings of the
# previous release keep working for one release, with a one-line note on stderr.


def add_out_option(parser: argparse._ActionsContainer, help: str, **kwargs: Any) -> None:
    """``-o/--out``, the one option that names what a verb writes."""
    parser.add_argument("-o", "--out", help=help, **kwargs)


def add_in_place_option(parser: argparse.ArgumentParser) -> None:
    """``--in-place``: the only way to let a verb write over its input MODEL."""
    parser.add_argument(
        "--in-place",
        action="store_true",
        help="write the result over MODEL itself (never done without this option)",
    )


def deprecated(verb: str, old: str, new: str) -> None:
    """The one-line note an old spelling prints on stderr (it still works this release)."""
    print(
        f"updatable {verb}: deprecated: {old} is now {new}; the old spelling will be removed "
        "in the next release",
        file=sys.stderr,
    )


def chosen_out(args: argparse.Namespace, legacy: str | None, old_spelling: str) -> str | None:
    """``-o/--out``, or the value of the deprecated spelling ``old_spelling`` (with its note);
    both at once is a usage error."""
    if legacy is None:
        return None if args.out is None else str(args.out)
    if args.out is not None:
        raise ParameterError(
            f"{old_spelling} and -o/--out both name the output; give only -o/--out"
        )
    deprecated(args.verb, old_spelling, "-o/--out")
    return legacy


def refuse_overwriting_inputs(verb: str, out: str | Path, inputs: dict[str, str | Path]) -> None:
    """Raise ``ParameterError`` if ``out`` is one of the ``inputs`` (name -> path): a verb
    writes over an input only with ``--in-place``."""
    target = Path(out).resolve()
    for name, path in inputs.items():
        if Path(path).resolve() == target:
            raise ParameterError(
                f"-o/--out {out} is the input {name}; updatable {verb} never writes over an "
                "input: choose another -o/--out, or pass --in-place to rewrite "
                f"{name} itself"
            )


def print_json(document: Any) -> None:
    """A verb's ``--json`` document on stdout (docs/cli-json.md describes each one)."""
    import json

    print(json.dumps(document, indent=2))
