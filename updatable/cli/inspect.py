"""Command line: ``updatable inspect MODEL``: what a model is, what it can learn and how."""

from __future__ import annotations

import argparse
import json
from typing import Any

from updatable.cli._common import EXIT_OK, verb_parser

EXAMPLES = """
  updatable inspect MNISTDigitClassifier.mlmodel
  updatable inspect TinyDrawingClassifier.mlmodel --json | jq '.models[1].knn'
"""


# the runtime's table of engines has no row for this model type (`predict` refuses it)
NOT_RUN = " [the runtime cannot run this model type]"


def add_parser(subparsers: Any) -> None:
    """Register the ``inspect`` verb."""
    parser = verb_parser(
        subparsers,
        "inspect",
        "show layers, updatable parts and training settings of a model",
        "Print a model's type and version, its inputs, outputs and training inputs, its layers "
        "(kind, blobs, weight shapes, which are updatable), loss, optimizer and every "
        "hyperparameter with its default and allowed values. Works on every model type: each "
        "(sub-)model says what it is, whether the runtime can run it, and for the classic "
        "types (GLMs, SVMs, tree ensembles, feature engineering) its parameters in one line.",
        EXAMPLES,
        exit_codes={
            0: "success (an invalid model is inspected too: run validate to check it)",
            1: "the file is a Core ML model this tool cannot read",
        },
    )
    parser.add_argument("model", metavar="MODEL", help="the .mlmodel file")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Load the model and print its summary."""
    from updatable.cli._summary import summarize
    from updatable.spec import load

    summary = summarize(load(args.model))
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print("\n".join(render(summary, title=args.model)))
    return EXIT_OK


def render(summary: dict[str, Any], title: str, indent: str = "") -> list[str]:
    """The summary as indented text lines."""
    state = "updatable" if summary["isUpdatable"] else "not updatable"
    lines = [
        f"{indent}{title}: {summary['type']}, version {summary['specificationVersion']}, {state}"
    ]
    pad = indent + "  "
    lines.append(f"{pad}{summary['does']}" + ("" if summary["runs"] else NOT_RUN))
    if "details" in summary:
        lines.append(f"{pad}{summary['details']}")
    for heading, key in (
        ("inputs", "inputs"),
        ("outputs", "outputs"),
        ("training inputs", "trainingInputs"),
    ):
        if summary[key]:
            lines.append(f"{pad}{heading}:")
            lines += [f"{pad}  {f['name']:<24} {f['type']}" for f in summary[key]]
        elif key == "trainingInputs" and summary["isUpdatable"]:
            lines.append(f"{pad}training inputs: none")
    if "classLabels" in summary:
        labels = summary["classLabels"]
        shown = ", ".join(str(label) for label in labels["labels"])
        more = ", ..." if labels["count"] > len(labels["labels"]) else ""
        lines.append(f"{pad}class labels: {labels['count']} {labels['type']} ({shown}{more})")
    if "layers" in summary:
        lines += _layers(summary["layers"], pad)
        lines += _training(summary.get("training"), pad)
    if "knn" in summary:
        lines += _knn(summary["knn"], pad)
    if "link" in summary:
        link = summary["link"]
        lines.append(f"{pad}links to: {link['fileName']} (search path {link['searchPath']!r})")
    for i, model in enumerate(summary.get("models", [])):
        lines += render(model, f"models[{i}]", pad)
    return lines


def _layers(layers: list[dict[str, Any]], pad: str) -> list[str]:
    lines = [f"{pad}layers ({len(layers)}; U = updatable):"]
    for layer in layers:
        flag = "U" if layer["updatable"] else " "
        blobs = f"{', '.join(layer['inputs'])} -> {', '.join(layer['outputs'])}"
        weights = "; ".join(
            f"{name} {w['shape']} {w['storage']}" + (" U" if w["updatable"] else "")
            for name, w in layer["weights"].items()
        )
        detail = f" ({layer['detail']})" if layer.get("detail") else ""
        text = f"{pad}  {flag} {layer['name']:<16} {layer['kind'] + detail:<34} {blobs}"
        lines.append(text + (f"  [{weights}]" if weights else ""))
    return lines


def _allowed(view: dict[str, Any] | None) -> str:
    if view is None:
        return "not set"
    if "range" in view:
        return f"{view['default']:g} (range [{view['range'][0]:g}, {view['range'][1]:g}])"
    if "set" in view:
        return f"{view['default']} (allowed: {', '.join(str(v) for v in view['set'])})"
    return f"{view['default']} (any value)"


def _training(training: dict[str, Any] | None, pad: str) -> list[str]:
    if training is None:
        return [f"{pad}training: none (no updateParams)"]
    lines = []
    for loss in training["losses"] or [None]:
        if loss is None:
            lines.append(f"{pad}loss: none")
        else:
            lines.append(
                f"{pad}loss: {loss['name']}: {loss['type']} "
                f"(input {loss['input']}, target {loss['target']})"
            )
    optimizer = training["optimizer"]
    if optimizer is None:
        lines.append(f"{pad}optimizer: none")
    else:
        lines.append(f"{pad}optimizer: {optimizer['type']}")
        for name, view in optimizer.items():
            if name != "type":
                lines.append(f"{pad}  {name:<14} {_allowed(view)}")
    lines.append(f"{pad}epochs: {_allowed(training['epochs'])}")
    shuffle = {True: "on", False: "off", None: "not set"}[training["shuffle"]]
    lines.append(f"{pad}shuffle: {shuffle}; seed: {_allowed(training['seed'])}")
    return lines


def _knn(knn: dict[str, Any], pad: str) -> list[str]:
    index = knn["index"] or "none"
    if knn.get("leafSize") is not None:
        index += f", leaf size {knn['leafSize']}"
    counts = ", ".join(f"{label}: {n}" for label, n in knn["labelCounts"].items())
    return [
        f"{pad}kNN: {knn['dimensions']} dimensions, {knn['samples']} samples"
        + (f" ({counts})" if counts else ""),
        f"{pad}  numberOfNeighbors {_allowed(knn['numberOfNeighbors'])}",
        f"{pad}  weighting {knn['weighting']}; index {index}; distance {knn['distance']}",
        f"{pad}  labels {knn['labelType'] or 'not set'}; default label {knn['defaultLabel']!r}",
    ]
