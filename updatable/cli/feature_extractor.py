"""Command line: ``updatable feature-extractor MODEL OUT --at BLOB``: cut a neural network at a
blob, keeping only what computes it."""

from __future__ import annotations

import sys

from updatable.cli._common import EXIT_INVALID, EXIT_OK, verb_parser

EXAMPLES = """
  # the 32 features in front of a converted ResNet's classifier layer
  updatable feature-extractor ResNet.mlmodel Features.mlmodel --at linear_0 --input-of

  # a blob by name, renamed as the output feature
  updatable feature-extractor Classifier.mlmodel Features.mlmodel --at flatten_out \\
      --output features
"""


def add_parser(subparsers) -> None:
    """Register the ``feature-extractor`` verb."""
    parser = verb_parser(
        subparsers,
        "feature-extractor",
        "cut a network at a blob: the model up to it, as a feature extractor",
        "Keep the layers a blob depends on, the inputs and image preprocessing they read, and "
        "declare the blob as the one output (a plain neural network: labels, losses and "
        "updatable flags are dropped). The result can feed a kNN classifier or a new head in "
        "a pipeline. It is validated; OUT is written atomically and only if it is valid.",
        EXAMPLES,
    )
    parser.add_argument("model", metavar="MODEL", help="the .mlmodel to cut")
    parser.add_argument("out", metavar="OUT", help="where to write the feature extractor")
    parser.add_argument(
        "--at", required=True, metavar="BLOB", help="a blob, or a layer (its first output)"
    )
    parser.add_argument(
        "--input-of",
        action="store_true",
        help="cut at what the layer named by --at reads (its first input), e.g. the "
        "features in front of a classifier layer",
    )
    parser.add_argument("--output", metavar="NAME", help="output feature name (default: BLOB)")
    parser.set_defaults(run=run)


def run(args) -> int:
    """Cut, validate, write."""
    import updatable
    from updatable.cli.validate import format_issues
    from updatable.errors import ParameterError

    spec = updatable.load(args.model)
    at = args.at
    if args.input_of:
        layers = {layer.name: layer for layer in updatable.spec.network(spec).layers}
        if at not in layers or not layers[at].input:
            raise ParameterError(f"--input-of needs --at to name a layer with an input; got {at}")
        at = layers[at].input[0]
    from runtime.tools.equivalence import blob_shapes

    cut = updatable.feature_extractor(spec, at, output=args.output, shapes=blob_shapes)
    issues = updatable.validate(cut)
    for line in format_issues(issues):
        print(line, file=sys.stderr)
    if any(issue.severity == "error" for issue in issues):
        print(
            f"updatable feature-extractor: error: the cut model is invalid; nothing was written "
            f"to {args.out}",
            file=sys.stderr,
        )
        return EXIT_INVALID
    updatable.save(cut, args.out)
    outputs = [feature.name for feature in cut.description.output]
    print(
        f"wrote {args.out}: {len(updatable.spec.network(cut).layers)} layers computing "
        f"{outputs[0]} from {[f.name for f in cut.description.input]}"
    )
    return EXIT_OK
