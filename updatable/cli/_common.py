"""Command line: what every verb shares: its parser skeleton, error handling and exit codes."""

from __future__ import annotations

import argparse
import sys
import traceback

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
EXIT_CODES_HELP = """exit codes:
  0    success (for validate: Core ML accepts the model)
  1    the model is invalid, or the edit cannot be applied to it
  2    usage error, bad option value, a file that cannot be read or written, or
       work past a resource bound (memory, sizes; the message names the bound)
  3    an optional package this command needs is not installed (the message says
       which, and the pip command that installs it); checked before any work starts
  130  interrupted with Ctrl-C"""

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
    subparsers, name: str, summary: str, description: str, examples: str
) -> argparse.ArgumentParser:
    """A sub-parser for ``name`` whose help ends with ``examples`` and the exit codes."""
    parser = subparsers.add_parser(
        name,
        help=summary,
        description=description,
        epilog=f"examples:\n{examples.strip(chr(10)).rstrip()}\n\n{EXIT_CODES_HELP}",
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
        return args.run(args)
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
            exc = f"unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)"
            code = EXIT_INVALID
        print(f"updatable {args.verb}: error: {exc}", file=sys.stderr)
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
