"""Train the demo's base model: a digit classifier for 0..6, every layer by an UpdateTask.

The network of :mod:`runtime.demo.base` (two small convolutions, a 64-d embedding, a 7-way
softmax) starts from He-initialised weights; all four weight layers are marked updatable with
cross-entropy and Adam, and a Core ML update task trains them on the clean MNIST digits 0..6
of the demo's split (:mod:`runtime.demo.user`), reporting the epoch loss and the validation
accuracy as it goes. The result is stripped back to a plain classifier (no updatable layers),
the app's starting point in ``updatable demo``, which trains the same model the same way.

    python scripts/train_base_mnist.py --out MNISTBase.mlmodel
    python scripts/train_base_mnist.py --out base.mlmodel --epochs 8 --quick
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import updatable
from runtime.demo import base, user
from runtime.demo.events import EpochEnd, TrainingStarted
from runtime.tools.datasets import load_digits
from updatable.errors import UpdatableError


def report(event) -> None:
    """Print the update task's events as they stream."""
    if isinstance(event, TrainingStarted):
        print(
            f"training {event.examples} digits, {event.epochs} epochs of {event.batches} "
            f"mini-batches: {event.hyperparameters}"
        )
    elif isinstance(event, EpochEnd):
        print(
            f"epoch {event.epoch + 1}/{event.epochs}: loss {event.loss:.4f} (mean "
            f"{event.mean_loss:.4f}), validation accuracy {event.validation_accuracy:.1%}",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the .mlmodel to write")
    parser.add_argument("--epochs", type=int, default=5, help="epochs (default 5, as the demo)")
    parser.add_argument("--quick", action="store_true", help="the demo's reduced split")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split and the weights")
    parser.add_argument("--digits", choices=("auto", "mnist", "sklearn"), default="auto")
    args = parser.parse_args(argv)
    try:
        digits = load_digits(args.digits)
        sizes = user.QUICK_SIZES if args.quick else user.SplitSizes()
        parts = user.split(digits, sizes, args.seed)
        spec, outcome, accuracy = base.train_base(
            digits.images[parts.base_train],
            digits.labels[parts.base_train],
            digits.images[parts.base_validation],
            digits.labels[parts.base_validation],
            epochs=args.epochs,
            source=digits.source,
            seed=args.seed,
            emit=report,
        )
        updatable.check(spec)
        updatable.save(spec, args.out)
    except UpdatableError as exc:
        print(f"train_base_mnist: error: {exc}", file=sys.stderr)
        return 1
    print(
        f"wrote {args.out}: validation accuracy {accuracy:.1%} after {args.epochs} epochs "
        f"({outcome.seconds:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
