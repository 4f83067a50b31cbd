"""Command line: ``updatable evaluate MODEL --data DATA``: accuracy, per class, confusion matrix
and loss."""

from __future__ import annotations

import argparse
import json
from typing import Any

from updatable.cli._common import EXIT_OK, verb_parser

EXAMPLES = """
  updatable evaluate demo-output/UpdatedClassifier.mlmodel --data held-out/
  updatable evaluate UpdatedKNN.mlmodel --data test.npz --json
  updatable evaluate Classifier.mlmodel --data features.csv --no-confusion

data: as for `updatable train` (label folders, .npz or .csv). A kNN accepts labels it does not
know yet (they count as errors), so it can be compared before and after an update; a
neural-network classifier's classes are fixed, so a label it lacks is refused, as train does.
"""


def add_parser(subparsers: Any) -> None:
    """Register the ``evaluate`` verb."""
    parser = verb_parser(
        subparsers,
        "evaluate",
        "accuracy, per-class table, confusion matrix and loss of a classifier",
        "Predict every example of the data with the model and compare with the labels: "
        "overall accuracy, accuracy per class, the confusion matrix (rows: true label, "
        "columns: predicted) and the mean cross-entropy -log(max(p_true, 1e-7)) when the model "
        "outputs probabilities. Works for neural-network and kNN classifiers and pipelines.",
        EXAMPLES,
        exit_codes={1: "the model cannot be evaluated (not a classifier the runtime runs)"},
    )
    parser.add_argument("model", metavar="MODEL", help="a classifier .mlmodel")
    parser.add_argument("--data", required=True, metavar="DIR|FILE", help="labelled data")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--no-confusion", action="store_true", help="omit the confusion matrix")
    parser.add_argument("--plain", action="store_true", help="plain text output, no colours")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate and print."""
    from runtime.model.mlmodel import Model
    from runtime.tools.evaluation import evaluate
    from updatable.cli._data_files import evaluation_schema, read_data
    from updatable.spec import load

    spec = load(args.model)
    data = read_data(args.data, evaluation_schema(spec))
    result = evaluate(Model.load(spec), data.inputs_only(), data.targets)
    if args.json:
        print(json.dumps(as_json(args.model, data.source, result), indent=2))
    else:
        render(args, data.source, result)
    return EXIT_OK


def as_json(model: str, source: str, result: Any) -> dict[str, Any]:
    """The evaluation as a JSON-ready dict (labels as strings)."""
    return {
        "model": model,
        "data": source,
        "examples": result.count,
        "accuracy": result.accuracy,
        "loss": result.loss,
        "classes": [str(c) for c in result.classes],
        "per_class": {
            str(c): {"examples": n, "accuracy": result.class_accuracy()[c]}
            for c, n in result.class_counts().items()
        },
        "confusion": result.confusion.tolist(),
    }


def render(args: argparse.Namespace, source: str, result: Any) -> None:
    from updatable.cli._progress import Output, fmt_percent

    output = Output(plain=True if args.plain else None)
    loss = "" if result.loss is None else f", loss {result.loss:.4f}"
    output.line(
        f"{args.model} on {result.count} examples from {source}: accuracy "
        f"{result.accuracy:.1%}{loss}",
        "bold",
    )
    accuracy = result.class_accuracy()
    rows = [
        [str(label), str(count), str(round(accuracy[label] * count)), fmt_percent(accuracy[label])]
        for label, count in result.class_counts().items()
    ]
    output.table("per class", ["class", "examples", "correct", "accuracy"], rows)
    if not args.no_confusion:
        labels = [str(c) for c in result.classes]
        matrix = [[labels[i], *(str(v) for v in row)] for i, row in enumerate(result.confusion)]
        output.table(
            "confusion matrix (rows: true label, columns: predicted)",
            ["true \\ predicted", *labels],
            matrix,
        )
