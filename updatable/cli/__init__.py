"""Command line: the ``updatable`` command: prepare, check and inspect Core ML updatable models.

Each verb lives in its own module with ``add_parser(subparsers)`` and ``run(args) -> int``;
``VERBS`` lists them, so adding a verb is one line here plus one module. Verb modules import
only the standard library at the top, so ``updatable --help`` stays fast; training verbs import
``runtime`` inside ``run``. Errors are one line on stderr (``--debug`` shows the traceback).

Exit codes (``_common.EXIT_CODES_HELP``, shown by every ``--help``): 0 success (the model is
valid); 1 the model is invalid or the edit cannot be applied to it; 2 a usage error, a bad
option value, an unreadable file or work past a resource bound; 3 an optional package the
command needs is not installed; 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn

from updatable import __version__

# verb -> module defining add_parser(subparsers) and run(args) -> int
VERBS = {
    "inspect": "updatable.cli.inspect",
    "validate": "updatable.cli.validate",
    "make-updatable": "updatable.cli.make_updatable",
    "feature-extractor": "updatable.cli.feature_extractor",
    "export-ort": "updatable.cli.export_ort",
    "import-ort": "updatable.cli.import_ort",
    "sweep": "updatable.cli.sweep",
    "demo": "updatable.cli.demo",
    "train": "updatable.cli.train",
    "evaluate": "updatable.cli.evaluate",
    "predict": "updatable.cli.predict",
}

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


class OneLineErrorParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line (sub-parsers inherit the class)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per verb of ``VERBS``."""
    from updatable.cli._common import EXIT_CODES_HELP

    parser = OneLineErrorParser(
        prog="updatable",
        description="Prepare, validate and train Core ML updatable models off-device.",
        epilog=EXIT_CODES_HELP + "\nRun 'updatable VERB --help' for a verb's options and examples.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB")
    for module in VERBS.values():
        importlib.import_module(module).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    from updatable.cli._common import run_verb

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 0 after --help, 2 on a usage error
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.verb is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return run_verb(args)
