"""Command line: ``updatable import-ort MODEL CHECKPOINT -o OUT``: trained weights from ONNX
Runtime back in."""

from __future__ import annotations

import argparse
from typing import Any

from updatable.cli._common import (
    EXIT_OK,
    add_in_place_option,
    add_out_option,
    chosen_out,
    print_json,
    refuse_overwriting_inputs,
    verb_parser,
)

EXAMPLES = """
  updatable import-ort MNISTDigitClassifier.mlmodel personalized/checkpoint -o Personal.mlmodel
  updatable import-ort model.mlmodel checkpoint --in-place     # rewrites model.mlmodel
  updatable import-ort model.mlmodel checkpoint -o Trained.mlmodel --json
"""


def add_parser(subparsers: Any) -> None:
    """Register the ``import-ort`` verb."""
    parser = verb_parser(
        subparsers,
        "import-ort",
        "write the weights of an ONNX Runtime training checkpoint back into a model",
        "Copy the trained weights of an ONNX Runtime checkpoint (made from artifacts that "
        "'updatable export-ort' wrote, then trained on any platform) into a copy of the "
        ".mlmodel, written atomically to OUT (MODEL itself only with --in-place). Nothing is "
        "written if a weight does not fit the model. Needs the 'ort' extra.",
        EXAMPLES,
        exit_codes={
            0: "success: OUT written",
            1: "a weight of the checkpoint does not fit the model (nothing is written)",
        },
    )
    parser.add_argument("model", metavar="MODEL", help="the .mlmodel the artifacts came from")
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="the ORT checkpoint file")
    add_out_option(parser, "where to write the updated model (required)", metavar="OUT")
    add_in_place_option(parser)
    # the previous release's spelling of -o/--out (deprecated)
    parser.add_argument("--output", dest="legacy_output", help=argparse.SUPPRESS)
    parser.add_argument(
        "--json", action="store_true", help="print what was written as JSON (docs/cli-json.md)"
    )
    parser.set_defaults(run=run)


def _out(args: argparse.Namespace) -> str:
    """OUT from -o/--out (or the deprecated --output), or MODEL itself with --in-place."""
    from updatable.errors import ParameterError

    out = chosen_out(args, args.legacy_output, "--output")
    if args.in_place:
        if out is not None:
            raise ParameterError("--in-place writes over MODEL; it takes no -o/--out")
        return str(args.model)
    if out is None:
        # the previous release wrote over MODEL here; an input is now rewritten only on request
        raise ParameterError(
            "-o/--out OUT is required (or --in-place to rewrite MODEL, what the previous "
            "release did without -o)"
        )
    refuse_overwriting_inputs(
        "import-ort", out, {"MODEL": args.model, "CHECKPOINT": args.checkpoint}
    )
    return out


def run(args: argparse.Namespace) -> int:
    """Import the checkpoint and report which layers changed."""
    import runtime.ort as ort
    from updatable.spec import load, save

    out = _out(args)
    spec = load(args.model)
    weights = ort.read_checkpoint(args.checkpoint)
    save(ort.apply_weights(spec, weights), out)
    if args.json:
        print_json(
            {
                "model": str(args.model),
                "checkpoint": str(args.checkpoint),
                "out": out,
                "in_place": bool(args.in_place),
                "layers": {
                    layer: {field: list(value.shape) for field, value in sorted(fields.items())}
                    for layer, fields in sorted(weights.items())
                },
            }
        )
        return EXIT_OK
    for layer, fields in sorted(weights.items()):
        shapes = ", ".join(f"{f} {list(v.shape)}" for f, v in sorted(fields.items()))
        print(f"  {layer}: {shapes}")
    print(f"wrote {out}")
    return EXIT_OK
