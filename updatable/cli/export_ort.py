"""Command line: ``updatable export-ort MODEL -o OUT``: ONNX Runtime on-device training
artifacts (or ONNX)."""

from __future__ import annotations

import argparse
from typing import Any

from updatable.cli._common import (
    EXIT_OK,
    add_out_option,
    chosen_out,
    print_json,
    refuse_overwriting_inputs,
    split_list,
    verb_parser,
)

EXAMPLES = """
  updatable export-ort MNISTDigitClassifier.mlmodel -o mnist_ort/
  updatable export-ort model.mlmodel -o ort/ --layout whole --overwrite
  updatable export-ort model.mlmodel -o ort/ --set beta1=0.8,eps=1e-7 --json
  updatable export-ort model.mlmodel -o model.onnx --inference   # the inference graph only
"""


def add_parser(subparsers: Any) -> None:
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
        exit_codes={
            0: "success: OUT written",
            1: "the model cannot be exported (not updatable, or a layer ONNX Runtime cannot "
            "train); nothing is written",
            2: "usage error, bad option value (--set outside the model's allowed values), an "
            "unreadable MODEL, or OUT exists without --overwrite",
        },
    )
    parser.add_argument("model", metavar="MODEL", help="the updatable .mlmodel file")
    # the previous release's positional OUT (deprecated: -o/--out)
    parser.add_argument("legacy_out", nargs="?", metavar="OUT", help=argparse.SUPPRESS)
    add_out_option(
        parser,
        "artifact directory to create, or the .onnx file of --inference (required)",
        metavar="OUT",
    )
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
    parser.add_argument(
        "--json", action="store_true", help="print what was written as JSON (docs/cli-json.md)"
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


def run(args: argparse.Namespace) -> int:
    """Export, then print what was written."""
    from pathlib import Path

    import runtime.ort as ort
    from updatable.errors import ModelFileError, ParameterError
    from updatable.spec import load, write_atomic

    given = chosen_out(args, args.legacy_out, "the positional OUT")
    if given is None:
        raise ParameterError("-o/--out OUT is required (the artifact directory, or a .onnx file)")
    refuse_overwriting_inputs("export-ort", given, {"MODEL": args.model})
    spec = load(args.model)
    out = Path(given)
    if args.inference:
        if out.exists() and not args.overwrite:
            raise ModelFileError(f"{out}: already exists; pass --overwrite to replace it")
        write_atomic(ort.export_onnx(spec).SerializeToString(), out)
        if args.json:
            print_json(_onnx_document(args, out))
        else:
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
    if args.json:
        print_json(_artifacts_document(args, artifacts))
        return EXIT_OK
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


def _onnx_document(args: argparse.Namespace, out: Any) -> dict[str, Any]:
    """``--json`` of ``--inference`` (docs/cli-json.md, "export-ort")."""
    return {
        "model": str(args.model),
        "out": str(out),
        "kind": "onnx",
        "layout": None,
        "files": [str(out)],
        "trainable": [],
        "loss": None,
        "logits": None,
        "target": None,
        "hyperparameters": {},
        "driver": None,
    }


def _artifacts_document(args: argparse.Namespace, artifacts: Any) -> dict[str, Any]:
    """``--json`` of the training artifacts (docs/cli-json.md, "export-ort")."""
    plan = artifacts.plan
    directory = artifacts.directory
    return {
        "model": str(args.model),
        "out": str(directory),
        "kind": "artifacts",
        "layout": artifacts.layout,
        "files": sorted(p.name for p in directory.iterdir()),
        "trainable": sorted(plan.parameters),
        "loss": plan.loss,
        "logits": plan.logits,
        "target": plan.target,
        "hyperparameters": dict(artifacts.hyperparameters),
        "driver": str(directory / "train_with_onnxruntime.py"),
    }
