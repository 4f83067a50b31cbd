"""Anneal the learning rate of an update task from its progress handler.

Core ML has no learning-rate scheduler: the only way to change the rate during an update is
``task.resume(withParameters:)`` from inside a progress handler, and ``learningRate`` is the
only parameter it reads (docs/update-task-semantics.md §4). Hollemans' sample multiplies the
rate by a factor in every callback; this script does the same at every epoch end, keeping
the rate inside the range the model allows (the runtime refuses a value outside it, as Core ML
does), and prints the rate each epoch trained with next to its loss.

By default it trains the demo's digit network (every layer updatable, Adam) from scratch on
clean MNIST digits 0..6; ``--model`` and ``--data`` train any updatable model instead
(``--data`` as for ``updatable train``: label folders, .npz or .csv).

    python scripts/anneal_learning_rate.py --epochs 6 --factor 0.5
    python scripts/anneal_learning_rate.py --model Personal.mlmodel --data drawings/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from runtime.model.configuration import ParameterKey
from runtime.training.task import Event, MetricKey, TaskState, UpdateProgressHandlers, UpdateTask
from updatable.errors import UpdatableError


def demo_model_and_data(examples: int, epochs: int):
    """The demo's base network made fully trainable, and ``examples`` digits 0..6."""
    from runtime.demo import base, user
    from runtime.demo.flows import image_provider
    from runtime.tools.datasets import load_digits

    digits = load_digits()
    parts = user.split(digits, user.QUICK_SIZES)
    train = parts.base_train[:examples]
    spec = base.make_trainable(base.build_base(), epochs, seed=0)
    return spec, image_provider(digits.images[train], digits.labels[train])


def learning_rate_range(spec) -> tuple[float, float]:
    """The allowed range of the model's learning rate (``(-inf, inf)`` if it has none)."""
    from updatable.spec import network, trained_model

    head, _ = trained_model(spec)
    optimizer = network(head).updateParams.optimizer
    rate = getattr(optimizer, optimizer.WhichOneof("OptimizerType")).learningRate
    if rate.WhichOneof("AllowedValues") == "range":
        return rate.range.minValue, rate.range.maxValue
    return float("-inf"), float("inf")


def anneal(spec, provider, factor: float) -> list[tuple[int, float, float]]:
    """Train with the rate multiplied by ``factor`` after every epoch; returns
    ``(epoch, learning rate used, epoch loss)`` rows."""
    low, high = learning_rate_range(spec)
    rows: list[tuple[int, float, float]] = []

    def progress(context) -> None:
        rate = float(context.parameters[ParameterKey.LEARNING_RATE])
        epoch = int(context.metrics[MetricKey.EPOCH_INDEX])
        rows.append((epoch, rate, float(context.metrics[MetricKey.LOSS_VALUE])))
        print(f"epoch {epoch + 1}: learning rate {rate:.6g}, loss {rows[-1][2]:.4f}", flush=True)
        # Core ML's idiom: start from the current parameters, change the rate, resume
        parameters = dict(context.parameters)
        parameters[ParameterKey.LEARNING_RATE] = min(max(rate * factor, low), high)
        context.task.resume(parameters)

    handlers = UpdateProgressHandlers(Event.EPOCH_END, progress, None)
    task = UpdateTask(spec, provider, progress_handlers=handlers)
    task.resume()
    task.wait()
    if task.state is TaskState.FAILED:
        raise task.error
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="an updatable .mlmodel (default: demo net)")
    parser.add_argument("--data", type=Path, help="training data for --model")
    parser.add_argument("--factor", type=float, default=0.7, help="rate multiplier per epoch")
    parser.add_argument("--epochs", type=int, default=5, help="epochs of the demo network")
    parser.add_argument("--examples", type=int, default=600, help="digits for the demo network")
    args = parser.parse_args(argv)
    if (args.model is None) != (args.data is None):
        parser.error("--model and --data go together")
    try:
        if args.model is None:
            spec, provider = demo_model_and_data(args.examples, args.epochs)
        else:
            import updatable
            from updatable.cli._data_files import read_data, training_schema

            spec = updatable.load(args.model)
            provider = read_data(args.data, training_schema(spec)).provider()
        rows = anneal(spec, provider, args.factor)
    except UpdatableError as exc:
        print(f"anneal_learning_rate: error: {exc}", file=sys.stderr)
        return 1
    first, last = rows[0], rows[-1]
    print(
        f"learning rate {first[1]:.6g} -> {last[1]:.6g} over {len(rows)} epochs; loss "
        f"{first[2]:.4f} -> {last[2]:.4f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
