"""Command line: ``updatable feature-extractor MODEL --at BLOB -o OUT``: cut a neural network at a
blob, keeping only what computes it."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from updatable.cli._common import (
    EXIT_INVALID,
    EXIT_OK,
    add_out_option,
    print_json,
    refuse_overwriting_inputs,
    verb_parser,
)

EXAMPLES = """
  # the 32 features in front of a converted ResNet's classifier layer
  updatable feature-extractor ResNet.mlmodel --at linear_0 --input-of -o Features.mlmodel

  # a blob by name, renamed as the output feature
  updatable feature-extractor Classifier.mlmodel --at flatten_out --output-name features \\
      -o Features.mlmodel
"""


def add_parser(subparsers: Any) -> None:
    """Register the ``feature-extractor`` verb."""
    parser = verb_parser(
        subparsers,
        "feature-extractor",
        "cut a network at a blob: the model up to it, as a feature extractor",
        "Keep the layers a blob depends on, the inputs and image preprocessing they read, and "
        "declare the blob as the one output, with its shape (a plain neural network: labels, "
        "losses and updatable flags are dropped). The result can feed a kNN classifier or a "
        "new head in a pipeline. It is validated; OUT is written atomically and only if it is "
        "valid.",
        EXAMPLES,
        exit_codes={
            0: "success: OUT written",
            1: "the cut model is invalid (the issues are listed; nothing is written)",
        },
    )
    parser.add_argument("model", metavar="MODEL", help="the .mlmodel to cut")
    add_out_option(parser, "where to write the feature extractor (required)", metavar="OUT")
    parser.add_argument(
        "--at", required=True, metavar="BLOB", help="a blob, or a layer (its first output)"
    )
    parser.add_argument(
        "--input-of",
        action="store_true",
        help="cut at what the layer named by --at reads (its first input), e.g. the "
        "features in front of a classifier layer",
    )
    parser.add_argument("--output-name", metavar="NAME", help="output feature name (default: BLOB)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Cut, validate, write."""
    import updatable
    from runtime.tools.equivalence import blob_shapes
    from updatable.cli.validate import format_issues
    from updatable.errors import ParameterError
    from updatable.spec import network

    if args.out is None:
        raise ParameterError("-o/--out OUT is required")
    refuse_overwriting_inputs("feature-extractor", args.out, {"MODEL": args.model})
    spec = updatable.load(args.model)
    at = args.at
    if args.input_of:
        layers = {layer.name: layer for layer in network(spec).layers}
        if at not in layers or not layers[at].input:
            raise ParameterError(f"--input-of needs --at to name a layer with an input; got {at}")
        at = layers[at].input[0]
    cut = updatable.feature_extractor(spec, at, output=args.output_name, shapes=blob_shapes)
    issues = updatable.validate(cut)
    for line in format_issues(issues):
        print(line, file=sys.stderr)
    valid = not any(issue.severity == "error" for issue in issues)
    if valid:
        updatable.save(cut, args.out)
    output = cut.description.output[0]
    if args.json:
        print_json(
            {
                "model": str(args.model),
                "out": str(args.out),
                "written": valid,
                "blob": at,
                "output": output.name,
                "shape": list(output.type.multiArrayType.shape),
                "inputs": [feature.name for feature in cut.description.input],
                "layers": len(network(cut).layers),
            }
        )
    if not valid:
        print(
            f"updatable feature-extractor: error: the cut model is invalid; nothing was written "
            f"to {args.out}",
            file=sys.stderr,
        )
        return EXIT_INVALID
    if not args.json:
        print(
            f"wrote {args.out}: {len(network(cut).layers)} layers computing {output.name} "
            f"{list(output.type.multiArrayType.shape)} from "
            f"{[f.name for f in cut.description.input]}"
        )
    return EXIT_OK
