"""Command line: ``updatable export-ort MODEL OUT``: ONNX Runtime on-device training artifacts (or
ONNX)."""

from __future__ import annotations

from updatable.cli._common import EXIT_OK, split_list, verb_parser

EXAMPLES = """
  updatable export-ort MNISTDigitClassifier.mlmodel mnist_ort/
  updatable export-ort model.mlmodel ort/ --layout whole --overwrite
  updatable export-ort model.mlmodel ort/ --set beta1=0.8,eps=1e-7
  updatable export-ort model.mlmodel model.onnx --inference   # the inference graph only
"""


def add_parser(subparsers) -> None:
    """Register the ``export-ort`` verb."""
    parser = verb_parser(
        subparsers,
        "export-ort",
        "write ONNX Runtime training artifacts (or an ONNX graph) for an updatable model",
        "Write a directory that ONNX Runtime's on-device training API loads: training, eval "
        "and optimizer models, a checkpoint holding the weights and the model's "
        "hyperparameters, and coreml_training.json describing them. Frozen layers stay "
        "constants; only the updatable layers train. Needs the 'ort' extra.",
        EXAMPLES,
    )
    parser.add_argument("model", metavar="MODEL", help="the updatable .mlmodel file")
    parser.add_argument("out", metavar="OUT", help="artifact directory to create (or .onnx file)")
    parser.add_argument(
        "--layout",
        choices=("split", "whole"),
        default="split",
        help="split: frozen prefix as a separate inference model (default); "
        "whole: one training graph from the model inputs",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        default="",
        metavar="NAME=VALUE,...",
        help="hyperparameter overrides, checked against the model's allowed "
        "values (e.g. beta1=0.8)",
    )
    parser.add_argument(
        "--keep-maxpool-indices",
        action="store_true",
        help="keep the training graph exactly as ORT generates it",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    parser.add_argument(
        "--inference",
        action="store_true",
        help="write only the ONNX inference graph of MODEL to the file OUT",
    )
    parser.set_defaults(run=run)


def _overrides(text: str) -> dict[str, float]:
    from updatable.errors import ParameterError

    values = {}
    for item in split_list(text):
        name, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            values[name.strip()] = float(value)
        except ValueError:
            raise ParameterError(f"--set expects NAME=NUMBER items, got {item!r}") from None
    return values


def run(args) -> int:
    """Export, then print what was written."""
    from pathlib import Path

    import runtime.ort as ort
    from updatable.errors import ModelFileError
    from updatable.spec import load, write_atomic

    spec = load(args.model)
    out = Path(args.out)
    if args.inference:
        if out.exists() and not args.overwrite:
            raise ModelFileError(f"{out}: already exists; pass --overwrite to replace it")
        write_atomic(ort.export_onnx(spec).SerializeToString(), out)
        print(f"wrote {out}")
        return EXIT_OK
    artifacts = ort.write_artifacts(
        spec,
        out,
        layout=args.layout,
        hyperparameters=_overrides(args.overrides),
        prune_maxpool_indices=not args.keep_maxpool_indices,
        overwrite=args.overwrite,
    )
    plan = artifacts.plan
    print(f"wrote {artifacts.directory}/ ({artifacts.layout} layout)")
    for name in sorted(p.name for p in artifacts.directory.iterdir()):
        print(f"  {name}")
    print(f"trainable: {', '.join(sorted(plan.parameters))}")
    print(f"loss: {plan.loss} on '{plan.logits}', target input '{plan.target}'")
    values = ", ".join(f"{k}={v}" for k, v in artifacts.hyperparameters.items())
    print(f"hyperparameters: {values}")
    driver = artifacts.directory / "train_with_onnxruntime.py"
    print(f"train with ONNX Runtime in Core ML's batch order: python {driver} DATA.npz")
    return EXIT_OK
