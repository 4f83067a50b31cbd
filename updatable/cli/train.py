"""Command line: ``updatable train MODEL --data DATA``: update a model on labelled data, as a
device would.

Three paths, chosen by the options:

* plain: a Core ML ``MLUpdateTask`` (``runtime.UpdateTask``) with the model's own
  hyperparameters, ``--epochs`` / ``--lr`` / ``--batch`` as load-time overrides checked
  against the model's allowed values; the epoch loss is Core ML's (the last mini-batch's);
* ``--validation``, ``--session``, ``--checkpoint-every`` or ``--resume``: a Create ML style
  training job (``runtime.train`` / ``runtime.resume``) that reports the epoch's mean loss
  and validation loss and accuracy, and keeps checkpoints in a session directory;
* a kNN (or feature extractor + kNN pipeline): one pass that appends the examples.

Ctrl-C cancels cleanly: an update task writes nothing (Core ML's cancel), a session keeps its
last completed epoch as a checkpoint for ``--resume``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from updatable.cli._common import (
    EXIT_OK,
    add_in_place_option,
    add_out_option,
    print_json,
    refuse_overwriting_inputs,
    verb_parser,
)

EXIT_CANCELLED = 130
EXAMPLES = """
  updatable train Personal.mlmodel --data drawings/ -o Personal-updated.mlmodel
  updatable train Personal.mlmodel --data train.npz --epochs 20 --lr 0.01 --batch 16
  updatable train Personal.mlmodel --data drawings/ --validation held-out/ --plot losses.png
  updatable train Personal.mlmodel --data drawings/ --session run1/ --checkpoint-every 5
  updatable train Personal.mlmodel --data drawings/ --session run1/ --resume --epochs 60
  updatable train Drawings-kNN.mlmodel --data drawings/       # appends the examples
  updatable train Personal.mlmodel --data train.npz --json > result.json

data: a directory of label folders (DIR/<label>/<image>.png), an .npz archive with one array
per model input and the target (see `updatable inspect MODEL`, "training inputs"), or a .csv
file for a model with one multiArray input (header; the target column named after it).
"""


def add_parser(subparsers: Any) -> None:
    """Register the ``train`` verb."""
    parser = verb_parser(
        subparsers,
        "train",
        "update a model on labelled data (UpdateTask, training job or kNN)",
        "Update an updatable model on labelled data the way a device would, showing a "
        "progress bar and the loss of every epoch, and write the updated model. Values outside "
        "the model's allowed hyperparameters are refused with the allowed values listed.",
        EXAMPLES,
        exit_codes={
            0: "success: the updated model is written",
            1: "the model cannot be trained (not updatable, or an update that fails)",
            2: "usage error, a value outside the model's allowed hyperparameters, or data or "
            "a file that cannot be read or written",
            130: "cancelled with Ctrl-C: an update task writes nothing, a session keeps its "
            "last completed epoch as a checkpoint (--resume continues it)",
        },
    )
    parser.add_argument("model", metavar="MODEL", help="the updatable .mlmodel")
    parser.add_argument("--data", required=True, metavar="DIR|FILE", help="training data")
    parser.add_argument("--validation", metavar="DIR|FILE", help="validation data (a job)")
    parser.add_argument("--epochs", type=int, metavar="N", help="epochs (default: the model's)")
    parser.add_argument("--lr", type=float, metavar="X", help="learning rate override")
    parser.add_argument("--batch", type=int, metavar="B", help="mini-batch size override")
    parser.add_argument("--session", type=Path, metavar="DIR", help="session directory")
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        metavar="K",
        help="epochs between checkpoints (needs --session; default 10)",
    )
    parser.add_argument("--resume", action="store_true", help="continue the session in --session")
    add_out_option(
        parser,
        "where to write the updated model (default: MODEL-updated.mlmodel beside MODEL)",
        type=Path,
        metavar="OUT",
    )
    add_in_place_option(parser)
    parser.add_argument(
        "--plot",
        type=Path,
        metavar="PNG",
        help="write the loss curves here (needs matplotlib: the demo extra)",
    )
    parser.add_argument("--plain", action="store_true", help="plain text output, no progress bar")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the result as JSON on stdout (docs/cli-json.md); progress goes to stderr",
    )
    parser.set_defaults(run=run)


def default_out(model: str | Path) -> Path:
    path = Path(model)
    return path.with_name(f"{path.stem}-updated.mlmodel")


def chosen_out(args: argparse.Namespace) -> Path:
    """-o/--out, MODEL itself with --in-place, else ``default_out``; never an input unasked."""
    from updatable.errors import ParameterError

    if args.in_place:
        if args.out is not None:
            raise ParameterError("--in-place writes over MODEL; it takes no -o/--out")
        return Path(args.model)
    out: Path = args.out or default_out(args.model)
    inputs = {"MODEL": args.model, "--data": args.data}
    if args.validation:
        inputs["--validation"] = args.validation
    refuse_overwriting_inputs("train", out, inputs)
    return out


def _check_options(args: argparse.Namespace, is_knn: bool) -> None:
    from updatable.errors import ParameterError

    for name in ("epochs", "batch", "checkpoint_every"):
        value = getattr(args, name)
        if value is not None and value < 1:
            flag = "--" + name.replace("_", "-")
            raise ParameterError(f"{flag} must be a positive integer; got {value}")
    if is_knn:
        given = [
            f
            for f, v in (
                ("--epochs", args.epochs),
                ("--lr", args.lr),
                ("--batch", args.batch),
                ("--session", args.session),
                ("--checkpoint-every", args.checkpoint_every),
                ("--resume", args.resume),
            )
            if v
        ]
        if given:
            raise ParameterError(
                f"{', '.join(given)} {'does' if len(given) == 1 else 'do'} not apply to a "
                "k-nearest-neighbours model: its update "
                "appends the examples in one pass (no epochs, learning rate or checkpoints)"
            )
    if (args.resume or args.checkpoint_every) and args.session is None:
        flag = "--resume" if args.resume else "--checkpoint-every"
        raise ParameterError(f"{flag} needs --session DIR (the session directory)")
    if args.resume and (args.lr is not None or args.batch is not None):
        raise ParameterError(
            "--lr and --batch cannot change when resuming: a session keeps the hyperparameters "
            "it started with (raise --epochs to train longer)"
        )


def run(args: argparse.Namespace) -> int:
    """Read the model and data, train on the path the options choose, write the result."""
    from updatable.cli._data_files import read_data, training_schema
    from updatable.cli._progress import Output
    from updatable.errors import MissingDependencyError
    from updatable.spec import load, model_type, trained_model

    out = chosen_out(args)
    if args.plot:  # asked for a plot: refuse before training rather than after
        from runtime.tools.plots import missing_plot_dependency

        if (missing := missing_plot_dependency()) is not None:
            raise MissingDependencyError(f"--plot: {missing}")
    spec = load(args.model)
    head, _ = trained_model(spec)
    is_knn = model_type(head) == "kNearestNeighborsClassifier"
    _check_options(args, is_knn)
    schema = training_schema(spec)
    data = read_data(args.data, schema)
    validation = read_data(args.validation, schema) if args.validation else None
    # with --json, stdout is the JSON document alone: the progress goes to stderr
    output = Output(plain=True if args.plain else None, stream=sys.stderr if args.json else None)
    output.line(
        f"{args.model}: {len(data)} training examples from {data.source}"
        + (f", {len(validation)} validation examples" if validation else "")
    )

    from updatable.cli import _training

    knn: dict[str, Any] = {}
    if is_knn:
        path, history = "knn", None
        code, knn = _training.train_knn(args, data, validation, out, output)
    elif args.session or args.validation or args.resume:
        path = "job"
        code, history = _training.train_job(args, spec, data, validation, out, output)
    else:
        path = "update-task"
        code, history = _training.train_task(args, data, out, output)
    plotted = bool(args.plot and history)
    if plotted and history:
        _training.plot(history, args.plot, args.model)
        output.line(f"wrote {args.plot}")
    if args.json:
        print_json(
            {
                "model": str(args.model),
                "out": str(out),
                "written": code is None,
                "path": path,
                "examples": len(data),
                "validation_examples": len(validation) if validation else None,
                "epochs": history or [],
                "final_loss": history[-1]["loss"] if history else None,
                "added": knn.get("added"),
                "validation_accuracy": knn.get("validation_accuracy"),
                "plot": str(args.plot) if plotted else None,
            }
        )
    return code if code is not None else EXIT_OK
