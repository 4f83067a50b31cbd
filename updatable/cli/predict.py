"""Command line: ``updatable predict MODEL INPUT...``: the predicted label and top probabilities."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from updatable import proto
from updatable.cli._common import EXIT_OK, verb_parser

EXAMPLES = """
  updatable predict demo-output/UpdatedClassifier.mlmodel seven.png eight.png
  updatable predict UpdatedKNN.mlmodel drawing.png --top 5 --json
  updatable predict Regressor.mlmodel features.npy

INPUT: an image file for a model whose one input is an image, or a .npy array (one example of
the input's declared shape) for a model whose one input is a multiArray.
"""


def add_parser(subparsers: Any) -> None:
    """Register the ``predict`` verb."""
    parser = verb_parser(
        subparsers,
        "predict",
        "predict labels (and top probabilities) for input files",
        "Run the model on each INPUT and print the predicted label with the highest "
        "probabilities (classifiers) or every output (other models). The model must have "
        "one input.",
        EXAMPLES,
        exit_codes={1: "the runtime cannot run the model"},
    )
    parser.add_argument("model", metavar="MODEL", help="the .mlmodel")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image or .npy files")
    parser.add_argument("--top", type=int, default=3, metavar="K", help="probabilities shown")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.set_defaults(run=run)


def _read_input(path: Path, feature: proto.FeatureDescription) -> Any:
    import numpy as np

    from updatable.errors import DataFileError

    kind = feature.type.WhichOneof("Type")
    if path.is_dir():
        raise DataFileError(
            f"input {path} is a directory; give the files in it ({path}/*.png, or .npy "
            "files for a multiArray input)"
        )
    if not path.is_file():
        raise DataFileError(f"input {path} does not exist")
    if kind == "imageType":
        return path  # the runtime reads and resizes it as Core ML's image initialisers do
    if path.suffix.lower() != ".npy":
        raise DataFileError(
            f"input {path}: the model's input '{feature.name}' is a multiArray; give a .npy "
            "file holding one example"
        )
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataFileError(f"input {path} is not a readable .npy file ({exc})") from None


def _plain(value: Any) -> Any:
    """An output value as JSON data."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def run(args: argparse.Namespace) -> int:
    """Predict each input and print the results."""
    from runtime.model.mlmodel import Model
    from updatable.errors import DataFileError, ParameterError
    from updatable.spec import load

    if args.top < 1:
        raise ParameterError(f"--top must be a positive integer; got {args.top}")
    spec = load(args.model)
    required = [f for f in spec.description.input if not f.type.isOptional]
    if len(required) != 1:
        raise DataFileError(
            f"predict needs a model with one input; {args.model} has "
            f"{[f.name for f in required]}; use the Python API (runtime.Model.predict)"
        )
    feature = required[0]
    model = Model.load(spec)
    values = [_read_input(Path(p), feature) for p in args.inputs]
    outputs = model.predict_batch([{feature.name: v} for v in values])
    description = spec.description
    label_name = description.predictedFeatureName
    probabilities_name = description.predictedProbabilitiesName
    results = []
    for path, output in zip(args.inputs, outputs, strict=True):
        result = {"input": path}
        if label_name:
            result["label"] = _plain(output[label_name])
            scores = output.get(probabilities_name) if probabilities_name else None
            if isinstance(scores, dict):
                top = sorted(scores.items(), key=lambda item: -item[1])[: args.top]
                result["top"] = [{"label": _plain(k), "probability": float(p)} for k, p in top]
        else:
            result["outputs"] = {name: _plain(value) for name, value in output.items()}
        results.append(result)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for result in results:
            print(_line(result))
    return EXIT_OK


def _line(result: dict[str, Any]) -> str:
    import numpy as np

    if "label" not in result:
        parts = []
        for name, value in result["outputs"].items():
            array = np.asarray(value)
            shown = np.array2string(array, precision=4, threshold=8, separator=", ")
            parts.append(f"{name} = {shown}")
        return f"{result['input']}: " + "; ".join(parts)
    top = result.get("top", [])
    probability = next((t["probability"] for t in top if t["label"] == result["label"]), None)
    head = f"{result['input']}: {result['label']}"
    if probability is not None:
        head += f" ({probability:.1%})"
    others = "  ".join(f"{t['label']} {t['probability']:.1%}" for t in top)
    return head + (f"   top: {others}" if others else "")
