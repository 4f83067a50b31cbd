"""Command line: ``updatable import-ort MODEL CHECKPOINT``: trained weights from ONNX Runtime back
in."""

from __future__ import annotations

from updatable.cli._common import EXIT_OK, verb_parser

EXAMPLES = """
  updatable import-ort MNISTDigitClassifier.mlmodel personalized/checkpoint -o Personal.mlmodel
  updatable import-ort model.mlmodel checkpoint          # rewrites model.mlmodel in place
"""


def add_parser(subparsers) -> None:
    """Register the ``import-ort`` verb."""
    parser = verb_parser(
        subparsers,
        "import-ort",
        "write the weights of an ONNX Runtime training checkpoint back into a model",
        "Copy the trained weights of an ONNX Runtime checkpoint (made from artifacts that "
        "'updatable export-ort' wrote, then trained on any platform) into the .mlmodel, "
        "atomically. Nothing is written if a weight does not fit the model. Needs the 'ort' "
        "extra.",
        EXAMPLES,
    )
    parser.add_argument("model", metavar="MODEL", help="the .mlmodel the artifacts came from")
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="the ORT checkpoint file")
    parser.add_argument(
        "-o",
        "--output",
        metavar="OUTPUT",
        help="where to write the updated model (default: over MODEL)",
    )
    parser.set_defaults(run=run)


def run(args) -> int:
    """Import the checkpoint and report which layers changed."""
    import runtime.ort as ort
    from updatable.spec import load, save

    spec = load(args.model)
    weights = ort.read_checkpoint(args.checkpoint)
    output = args.output or args.model
    save(ort.apply_weights(spec, weights), output)
    for layer, fields in sorted(weights.items()):
        shapes = ", ".join(f"{f} {list(v.shape)}" for f, v in sorted(fields.items()))
        print(f"  {layer}: {shapes}")
    print(f"wrote {output}")
    return EXIT_OK
