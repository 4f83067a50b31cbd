"""Command line: ``updatable make-updatable MODEL -o OUT``: prepare a neural network for on-device
training."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from updatable import proto
from updatable.cli._common import (
    EXIT_INVALID,
    EXIT_OK,
    add_in_place_option,
    add_out_option,
    chosen_out,
    int_list,
    int_pair,
    number_pair,
    print_json,
    refuse_overwriting_inputs,
    split_list,
    verb_parser,
)
from updatable.cli._repairs import repair_or_refuse, set_loss_with_options, training_blockers

if TYPE_CHECKING:
    from updatable.params import DoubleParam, IntParam

EXAMPLES = """
  # a classifier converted by coremltools: its softmaxND (and the reshapes before the head)
  # are rewritten into layers Core ML trains through, each checked, then the head is trained
  updatable make-updatable Converted.mlmodel -o Updatable.mlmodel

  # the head of a classifier, SGD with the allowed values an app may choose from
  updatable make-updatable Classifier.mlmodel -o Updatable.mlmodel --layers dense_2 \\
      --optimizer sgd --lr 0.001 --lr-range 0.0001,0.1 --batch 8 --batch-allowed 1,2,8,16 \\
      --epochs 10 --epochs-allowed 1,10,50

  # widen the classifier to 10 classes (labels user0.. for the new ones), start it fresh
  updatable make-updatable Classifier.mlmodel -o Personal.mlmodel --expand-classes 10 \\
      --reinit dense_2 --layers dense_2 --optimizer adam --lr 0.001 --seed 42

  # a regression head trained with mean squared error
  updatable make-updatable Regressor.mlmodel -o Out.mlmodel --layers fc --loss mse \\
      --loss-input output --json
"""


def add_parser(subparsers: Any) -> None:
    """Register the ``make-updatable`` verb."""
    parser = verb_parser(
        subparsers,
        "make-updatable",
        "mark layers updatable and write loss, optimizer and epochs",
        "Make layers of a neural network (or of the network at the end of a pipeline) "
        "updatable, add the loss and the training inputs it needs, the optimizer, epochs and "
        "shuffling, each hyperparameter with its default and allowed values. Optionally widen "
        "the classifier for new classes and re-initialise layers first. Converter output "
        "(softmaxND, batchedMatmul with weights, reshapes before the head) is first rewritten "
        "into layers Core ML trains through, each rewrite checked to leave the outputs "
        "unchanged (--no-repair refuses instead). The result is validated; OUT is written "
        "atomically and only if the result is valid.",
        EXAMPLES,
        exit_codes={
            0: "success: OUT written (warnings, if any, on stderr)",
            1: "the model cannot be prepared as asked, or the result is invalid (the issues "
            "are listed; nothing is written)",
        },
    )
    parser.add_argument("model", metavar="MODEL", help="the .mlmodel to prepare")
    # the previous release's positional OUT (deprecated: -o/--out)
    parser.add_argument("legacy_out", nargs="?", metavar="OUT", help=argparse.SUPPRESS)
    add_out_option(parser, "where to write the updatable model (required)", metavar="OUT")
    add_in_place_option(parser)
    parser.add_argument(
        "--no-repair",
        action="store_true",
        help="refuse a model that needs repairs instead of rewriting it (by default softmaxND, "
        "batchedMatmul with weights and the reshapes before a classifier head are rewritten "
        "into layers Core ML trains through, each checked to leave the outputs unchanged)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the result as JSON (docs/cli-json.md); issues stay on stderr",
    )
    _add_layer_options(parser.add_argument_group("layers"))
    _add_loss_options(parser.add_argument_group("loss"))
    _add_optimizer_options(
        parser.add_argument_group("optimizer (each value with its allowed range or set)")
    )
    parser.set_defaults(run=run)


def _add_layer_options(layers: argparse._ArgumentGroup) -> None:
    layers.add_argument(
        "--layers",
        nargs="+",
        metavar="LAYER",
        help="layers to train (space or comma separated); default: the classifier's last layer",
    )
    layers.add_argument(
        "--expand-classes", type=int, metavar="N", help="widen the classifier to N classes first"
    )
    layers.add_argument(
        "--labels",
        type=split_list,
        metavar="A,B,..",
        help="labels of the new classes (default user0, user1, ...)",
    )
    layers.add_argument(
        "--expand-layer",
        metavar="LAYER",
        help="layer to widen (default: the one feeding the softmax)",
    )
    layers.add_argument(
        "--reinit",
        action="append",
        default=[],
        metavar="LAYER",
        help="re-initialise LAYER (Kaiming uniform); repeatable",
    )
    layers.add_argument(
        "--reinit-scheme", choices=("kaiming_uniform", "zeros"), default="kaiming_uniform"
    )
    layers.add_argument("--reinit-seed", type=int, default=0, metavar="N")


def _add_loss_options(loss: argparse._ArgumentGroup) -> None:
    loss.add_argument("--loss", choices=("cross-entropy", "mse"), default="cross-entropy")
    loss.add_argument(
        "--loss-input",
        metavar="BLOB",
        help="blob the loss reads (default: the softmax / model output)",
    )
    loss.add_argument(
        "--loss-shape",
        type=int_list,
        metavar="D,D,..",
        help="MSE target shape (default: the output's declared shape)",
    )
    loss.add_argument("--loss-name", default="lossLayer", metavar="NAME")


def _add_optimizer_options(opt: argparse._ArgumentGroup) -> None:
    from updatable.edit.training_config import PLAIN_RANGES

    def default_range(field: str) -> str:
        low, high = PLAIN_RANGES[field]
        return f"allowed {field} values (default {low:g},{high:g})"

    opt.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd")
    opt.add_argument("--lr", type=float, default=0.01, help="learning rate (default 0.01)")
    opt.add_argument(
        "--lr-range", type=number_pair, metavar="MIN,MAX", help=default_range("learningRate")
    )
    batch = opt.add_mutually_exclusive_group()
    opt.add_argument("--batch", type=int, default=10, help="mini-batch size (default 10)")
    batch.add_argument("--batch-allowed", type=int_list, metavar="A,B,..")
    batch.add_argument("--batch-range", type=int_pair, metavar="MIN,MAX")
    opt.add_argument("--momentum", type=float, help="SGD momentum (default 0)")
    opt.add_argument(
        "--momentum-range", type=number_pair, metavar="MIN,MAX", help=default_range("momentum")
    )
    for name, default in (("beta1", 0.9), ("beta2", 0.999), ("eps", 1e-8)):
        what = "epsilon" if name == "eps" else name
        opt.add_argument(f"--{name}", type=float, help=f"Adam {what} (default {default:g})")
        opt.add_argument(
            f"--{name}-range", type=number_pair, metavar="MIN,MAX", help=default_range(name)
        )
    epochs = opt.add_mutually_exclusive_group()
    opt.add_argument("--epochs", type=int, default=10, help="epochs (default 10)")
    epochs.add_argument("--epochs-allowed", type=int_list, metavar="A,B,..")
    epochs.add_argument("--epochs-range", type=int_pair, metavar="MIN,MAX")
    opt.add_argument(
        "--shuffle",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="shuffle the training data every epoch (default on)",
    )
    opt.add_argument("--seed", type=int, help="shuffle seed (Int64, may be negative)")


def run(args: argparse.Namespace) -> int:
    """Apply the edits in order, validate, then write OUT."""
    import updatable
    from updatable.cli.validate import format_issues

    _check_combinations(args)
    out = _out(args)
    spec = updatable.load(args.model)
    repairs = repair_or_refuse(spec, args.no_repair)
    if not args.json:
        for line in repairs:
            print(f"repaired: {line}")
    if args.expand_classes:
        layer = args.expand_layer or updatable.classifier_head(spec)
        updatable.expand_classifier(spec, layer, args.expand_classes, _labels(spec, args.labels))
    for name in [n for item in args.reinit for n in split_list(item)]:
        updatable.reinitialize(spec, name, args.reinit_scheme, args.reinit_seed)
    layers = _trained_layers(spec, args.layers)
    updatable.make_updatable(spec, layers, replace=True)
    set_loss_with_options(spec, args)
    updatable.set_optimizer(spec, args.optimizer, **_optimizer_values(args))
    updatable.set_epochs(
        spec, _int_value("epochs", args.epochs, args.epochs_allowed, args.epochs_range)
    )
    updatable.set_shuffle(spec, args.shuffle, seed=args.seed)

    issues = updatable.validate(spec)
    errors = [issue for issue in issues if issue.severity == "error"]
    for line in format_issues(issues):
        print(line, file=sys.stderr)
    if not errors:
        updatable.save(spec, out)
    if args.json:
        print_json(_document(args, out, layers, issues, written=not errors, repairs=repairs))
    if errors:
        for line in training_blockers(spec, layers):
            print(f"updatable make-updatable: error: {line}", file=sys.stderr)
        print(
            f"updatable make-updatable: error: the prepared model is invalid "
            f"({len(errors)} error(s)); nothing was written to {out}",
            file=sys.stderr,
        )
        return EXIT_INVALID
    if not args.json:
        print(
            f"wrote {out}: updatable layers {updatable.updatable_layers(spec)}, {args.loss} "
            "loss, "
            f"{args.optimizer} lr {args.lr:g}, epochs {args.epochs}"
        )
    return EXIT_OK


def _out(args: argparse.Namespace) -> str:
    """OUT from -o/--out (or the deprecated positional), or MODEL itself with --in-place."""
    from updatable.errors import ParameterError

    out = chosen_out(args, args.legacy_out, "the positional OUT")
    if args.in_place:
        if out is not None:
            raise ParameterError("--in-place writes over MODEL; it takes no -o/--out")
        return str(args.model)
    if out is None:
        raise ParameterError("-o/--out OUT is required (or --in-place to rewrite MODEL)")
    refuse_overwriting_inputs("make-updatable", out, {"MODEL": args.model})
    return out


def _document(
    args: argparse.Namespace,
    out: str,
    layers: list[str],
    issues: list[Any],
    written: bool,
    repairs: list[str],
) -> dict[str, Any]:
    """The ``--json`` document (docs/cli-json.md, "make-updatable")."""
    import dataclasses

    return {
        "model": str(args.model),
        "out": out,
        "written": written,
        "valid": written,
        "repairs": repairs,
        "layers": layers,
        "loss": args.loss,
        "optimizer": args.optimizer,
        "learning_rate": args.lr,
        "mini_batch_size": args.batch,
        "epochs": args.epochs,
        "issues": [dataclasses.asdict(issue) for issue in issues],
    }


def _check_combinations(args: argparse.Namespace) -> None:
    from updatable.errors import ParameterError

    if args.optimizer == "adam" and (args.momentum is not None or args.momentum_range):
        raise ParameterError("--momentum applies to --optimizer sgd; Adam takes --beta1/2, --eps")
    adam_only = [f"{name}{end}" for name in ("beta1", "beta2", "eps") for end in ("", "_range")]
    if args.optimizer == "sgd" and any(getattr(args, name) is not None for name in adam_only):
        raise ParameterError("--beta1, --beta2, --eps and their ranges apply to --optimizer adam")
    if args.labels and not args.expand_classes:
        raise ParameterError("--labels names the new classes of --expand-classes N")


def _trained_layers(spec: proto.Model, given: Any) -> list[str]:
    """``--layers`` (space or comma separated), or the classifier's last layer."""
    import updatable
    from updatable.errors import ParameterError, SurgeryError, UnsupportedModelError

    layers = [n for item in given or [] for n in split_list(item)]
    if layers:
        return layers
    from updatable.edit.nested import locate
    from updatable.spec import NEURAL_NETWORK_TYPES

    locate(spec, NEURAL_NETWORK_TYPES, "make-updatable")  # says why other model types cannot
    try:
        return [updatable.classifier_head(spec)]
    except SurgeryError as error:
        raise SurgeryError(
            f"{error}; or name the layers to train with --layers (innerProduct or convolution "
            "layers whose way to the softmax Core ML can backpropagate through)"
        ) from None
    except UnsupportedModelError:
        raise ParameterError(
            "--layers is required when the model is not a classifier: name the layers to train"
        ) from None


def _int_value(
    name: str,
    default: int,
    allowed: tuple[int, ...] | None,
    bounds: tuple[int, int] | None,
) -> int | IntParam:
    from updatable.params import IntParam

    if allowed is not None:
        return IntParam(default, choices=allowed, positive=True, name=name)
    if bounds is not None:
        return IntParam(default, range=bounds, positive=True, name=name)
    return default


def _double_value(
    name: str, value: float | None, bounds: tuple[float, float] | None
) -> float | DoubleParam | None:
    from updatable.params import DoubleParam

    return value if bounds is None or value is None else DoubleParam(value, bounds, name=name)


def _optimizer_values(args: argparse.Namespace) -> dict[str, Any]:
    """``set_optimizer``'s keyword arguments from the options. A value without its range
    option stays a plain number, which ``set_optimizer`` allows in its lint-clean default
    range (``PLAIN_RANGES``)."""
    from updatable.edit.training_config import DEFAULTS

    defaults = DEFAULTS[args.optimizer]
    hyper = {
        "learning_rate": _double_value("learningRate", args.lr, args.lr_range),
        "mini_batch_size": _int_value(
            "miniBatchSize", args.batch, args.batch_allowed, args.batch_range
        ),
    }
    names = ("momentum",) if args.optimizer == "sgd" else ("beta1", "beta2", "eps")
    for name in names:
        value = getattr(args, name)
        value = defaults[name] if value is None else value
        hyper[name] = _double_value(name, value, getattr(args, f"{name}_range"))
    return hyper


def _labels(spec: proto.Model, labels: list[str] | None) -> list[str] | list[int] | None:
    """CLI labels are text; an Int64 classifier needs them as integers."""
    if labels is None:
        return None
    from updatable.edit.nested import locate
    from updatable.errors import ParameterError

    model, _ = locate(spec, ("neuralNetworkClassifier",), "--labels")
    if model.neuralNetworkClassifier.WhichOneof("ClassLabels") != "int64ClassLabels":
        return labels
    try:
        return [int(label) for label in labels]
    except ValueError:
        raise ParameterError(f"the classifier has Int64 labels; got --labels {labels}") from None
