"""Command line: the three training paths of ``updatable train``: update task, training job, kNN
update.

Each returns ``(exit code, history)``; the history is one dict per epoch (``epoch``,
``loss``, and when known ``mean_loss``, ``validation_loss``, ``validation_accuracy``) for the
plot. Models are written by the main thread after training, never from inside a handler, so
a write error is reported like any other.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from updatable import proto
from updatable.cli._destinations import save_or_rescue
from updatable.cli._progress import Output, fmt_loss, fmt_percent
from updatable.errors import ResourceLimitError

if TYPE_CHECKING:
    from runtime.model.configuration import ParameterKey
    from updatable.cli._data_files import Dataset

EXIT_CANCELLED = 130
POLL_SECONDS = 0.2  # the waiting thread wakes this often, so Ctrl-C is handled promptly


# a hyperparameter named by a runtime error -> the option that sets it
OPTIONS = {"miniBatchSize": "--batch", "epochs": "--epochs", "learningRate": "--lr"}


def in_option_words(error: Any) -> Any:
    """A ``ResourceLimitError`` about a hyperparameter, with the option that lowers it."""
    from updatable.errors import ResourceLimitError

    option = OPTIONS.get(str(getattr(error, "parameter", "")))
    if not isinstance(error, ResourceLimitError) or option is None or error.largest is None:
        return error
    return ResourceLimitError(
        f"{error} (pass {option} {error.largest} or less)", error.parameter, error.largest
    )


def overrides(args: argparse.Namespace) -> dict[ParameterKey | str, Any]:
    """Load-time parameter overrides (``MLModelConfiguration.parameters``) from the options."""
    values: dict[ParameterKey | str, Any] = {
        "epochs": args.epochs,
        "learningRate": args.lr,
        "miniBatchSize": args.batch,
    }
    return {key: value for key, value in values.items() if value is not None}


def _check_writable(out: Any, session: Any = None) -> None:
    """A real probe write into ``--out``'s directory (and ``--session``) before training."""
    from updatable.cli._destinations import check_session_directory, check_writable

    check_writable(out, "-o/--out")
    if session is not None:
        check_session_directory(session)


def _wait(task: Any) -> None:
    """Wait until the task's thread has ended (its completion handler included)."""
    from runtime.demo.flows import wait_for

    wait_for(task)


def _settings(values: dict[str, Any]) -> str:
    from runtime.model.hyperparameters import describe

    return describe(values)


def train_task(
    args: argparse.Namespace, data: Dataset, out: Path, output: Output
) -> tuple[int | None, list[dict[str, Any]]]:
    """Core ML's update task: events stream into a progress bar and the epoch table."""
    from runtime.model.configuration import ModelConfiguration
    from runtime.training.events import Event
    from runtime.training.task import TaskState, UpdateProgressHandlers, UpdateTask

    _check_writable(out)
    provider = data.provider()
    report = _TaskReport(output, provider.count)
    events = Event.TRAINING_BEGIN | Event.MINI_BATCH_END | Event.EPOCH_END
    try:
        task = UpdateTask(
            args.model,
            provider,
            ModelConfiguration(parameters=overrides(args)),
            UpdateProgressHandlers(events, report.progress, report.completion),
        )
    except ResourceLimitError as exc:
        raise in_option_words(exc) from None
    task.resume()
    history = report.history
    try:
        _wait(task)
    except KeyboardInterrupt:
        task.cancel()
        task.wait()
        _close(report.display)
        output.line(
            f"cancelled after {len(history)} epoch(s): nothing written (a cancelled Core ML "
            "update task calls no completion handler)",
            "yellow",
        )
        return EXIT_CANCELLED, history
    _close(report.display)
    if task.state is TaskState.FAILED:
        raise task.error or RuntimeError("the update task failed without an error")
    if report.warning:
        output.line(f"warning: {report.warning}", "yellow")
    save_or_rescue(report.spec, out)
    last = history[-1]["loss"] if history else float("nan")
    output.line(f"wrote {out} ({len(history)} epochs, last epoch loss {last:.4f})", "green")
    return None, history


class _TaskReport:
    """An update task's progress handlers: the progress bar, the epoch table, the history."""

    def __init__(self, output: Output, count: int):
        self.output, self.count = output, count
        self.history: list[dict[str, Any]] = []
        self.batches: list[float] = []
        self.display: Any = None  # the TrainingDisplay, from TRAINING_BEGIN on
        self.epochs = 0
        self.spec: Any = None
        self.warning: str | None = None  # the first epoch whose loss grew past the bound

    def progress(self, context: Any) -> None:
        from runtime.training.events import Event, MetricKey

        event, metrics = context.event, context.metrics
        if event is Event.TRAINING_BEGIN:
            values = {str(k): v for k, v in context.parameters.items()}
            self.epochs = int(values["epochs"])
            steps = self.epochs * math.ceil(self.count / int(values["miniBatchSize"]))
            self.output.line(f"UpdateTask: {_settings(values)}")
            self.display = self.output.training(
                "training", steps, "mini-batches", ["epoch", "loss", "mean loss"]
            ).__enter__()
        elif event is Event.MINI_BATCH_END:
            self.batches.append(float(metrics[MetricKey.LOSS_VALUE]))
            self.display.advance()
        elif event is Event.EPOCH_END:
            epoch, loss = int(metrics[MetricKey.EPOCH_INDEX]), float(metrics[MetricKey.LOSS_VALUE])
            mean = sum(self.batches) / len(self.batches)
            self.batches.clear()
            self.history.append({"epoch": epoch + 1, "loss": loss, "mean_loss": mean})
            self.display.row([f"{epoch + 1}/{self.epochs}", fmt_loss(loss), fmt_loss(mean)])
            self._watch_growth(epoch + 1, mean)

    def _watch_growth(self, epoch: int, mean: float) -> None:
        """Note the first epoch whose mean loss grew past the bound (a warning, not a stop)."""
        from runtime.model.configuration import DivergenceSettings
        from runtime.training.divergence import loss_growth_warning

        first = self.history[0]["mean_loss"]
        warning = loss_growth_warning(first, mean, epoch, DivergenceSettings().loss_growth)
        if warning is not None and self.warning is None:
            self.warning = warning.replace("lower the learning rate", "lower --lr")
            self.display.note(f"warning: {self.warning}")

    def completion(self, context: Any) -> None:
        self.spec = context.model.spec()


def _close(display: Any) -> None:
    if display is not None:
        display.__exit__(None, None, None)


def model_epochs(spec: proto.Model) -> int:
    """The default of the model's ``epochs`` parameter."""
    from runtime.model.hyperparameters import network_hyperparameters
    from updatable.spec import network, trained_model

    head, _ = trained_model(spec)
    return int(network_hyperparameters(network(head).updateParams)["epochs"].default)


def _start_job(
    args: argparse.Namespace, spec: proto.Model, data: Any, validation: Any, output: Any
) -> Any:
    """A new or resumed job, its first iteration and its iteration limit."""
    from runtime.jobs.session import (
        TrainingSessionParameters,
        restore_training_session,
        resume,
        train,
    )
    from runtime.jobs.session_lock import holder
    from runtime.model.configuration import ModelConfiguration
    from updatable.errors import SessionLockedError

    if args.session is not None and (in_use := holder(args.session)) is not None:
        raise SessionLockedError(in_use.replace("session directory", "--session directory"))
    validation_provider = validation.provider() if validation is not None else None
    if args.resume:
        record_epochs = TrainingSessionParameters(args.session)
        session = restore_training_session(record_epochs)
        iterations = args.epochs or int(session.record["hyperparameters"]["epochs"])
        params = TrainingSessionParameters(args.session, 1, args.checkpoint_every or 10, iterations)
        session = restore_training_session(params)
        for problem in session.problems:
            output.line(f"skipped a damaged checkpoint: {problem}", "yellow")
        if session.iteration >= iterations:
            return None, session, iterations
        output.line(f"resuming {args.session} at epoch {session.iteration} of {iterations}")
        job = resume(session, data.provider(), validation_provider)
        return job, session, iterations
    if args.session is not None and (args.session / "session.json").exists():
        from updatable.errors import ParameterError

        raise ParameterError(
            f"{args.session} already holds a training session: continue it with --resume, or "
            "choose another --session directory"
        )
    iterations = args.epochs or model_epochs(spec)
    params = TrainingSessionParameters(args.session, 1, args.checkpoint_every or 10, iterations)
    job = train(
        args.model,
        data.provider(),
        validation_provider,
        ModelConfiguration(parameters=overrides(args)),
        params,
    )
    return job, None, iterations


def train_job(
    args: argparse.Namespace,
    spec: proto.Model,
    data: Dataset,
    validation: Dataset | None,
    out: Path,
    output: Output,
) -> tuple[int | None, list[dict[str, Any]]]:
    """A Create ML style job: epoch mean loss, validation metrics, checkpoints, resume."""
    from runtime.jobs.checkpoints import Checkpoint
    from runtime.jobs.progress import Metric, Phase, Progress
    from runtime.jobs.session import model_from_checkpoint

    _check_writable(out, args.session)
    try:
        job, session, iterations = _start_job(args, spec, data, validation, output)
    except ResourceLimitError as exc:
        raise in_option_words(exc) from None
    if job is None:
        save_or_rescue(model_from_checkpoint(session.checkpoints[-1]), out, args.session)
        output.line(
            f"the session has already trained {session.iteration} epochs (limit "
            f"{iterations}): wrote its latest model to {out}; raise --epochs to train "
            "longer"
        )
        return None, []
    for note in job.notes:
        output.line(note, "yellow")
    first = session.iteration if session is not None else 0
    columns = ["epoch", "loss"] + (["val. loss", "val. acc."] if validation else [])
    history: list[dict[str, Any]] = []
    with output.training("training", iterations, "epochs", columns) as display:
        display.advance(first)
        try:
            for event in job:
                if isinstance(event, Progress) and event.phase is Phase.TRAINING:
                    history.append(_epoch_row(event, iterations, validation, display))
                    warning = history[-1].get("warning")
                    if warning and sum("warning" in row for row in history) == 1:
                        display.note(f"warning: {warning}")  # the first epoch past the bound
                elif isinstance(event, Checkpoint):
                    display.note(f"checkpoint: epoch {event.iteration} -> {event.url}")
        except KeyboardInterrupt:
            _cancel_job(job, args, display)
            return EXIT_CANCELLED, history
    result = job.wait()
    warning = next((row["warning"] for row in history if "warning" in row), None)
    if warning:
        output.line(f"warning: {warning}", "yellow")
    save_or_rescue(result.spec, out, args.session)
    loss = result.metrics.get(Metric.LOSS)
    output.line(
        f"wrote {out} (epoch {result.iteration}, stopped by {result.stopped_by}, loss "
        f"{fmt_loss(loss)})",
        "green",
    )
    return None, history


def _epoch_row(event: Any, iterations: int, validation: Any, display: Any) -> dict[str, Any]:
    """One epoch of a job in the table; its row of the history."""
    from runtime.jobs.progress import Metric
    from runtime.model.configuration import DivergenceSettings

    metrics = event.metrics
    row = {
        "epoch": event.item_count,
        "loss": metrics[Metric.LOSS],
        "validation_loss": metrics.get(Metric.VALIDATION_LOSS),
        "validation_accuracy": metrics.get(Metric.VALIDATION_ACCURACY),
    }
    cells = [f"{event.item_count}/{iterations}", fmt_loss(row["loss"])]
    if validation:
        cells += [fmt_loss(row["validation_loss"]), fmt_percent(row["validation_accuracy"])]
    display.row(cells)
    display.advance()
    growth = metrics.get(Metric.LOSS_GROWTH)
    if growth is not None and growth > DivergenceSettings().loss_growth:
        row["warning"] = (
            f"epoch {event.item_count}: the mean loss {row['loss']:.4g} is {growth:,.0f}x the "
            "first epoch's: training is diverging; lower --lr"
        )
    return row


def _cancel_job(job: Any, args: argparse.Namespace, display: Any) -> None:
    """Ctrl-C: stop the job at the next mini-batch and say how to continue."""
    job.cancel()
    result = job.wait()
    kept = f"; the session keeps epoch {result.iteration} in {args.session}" if args.session else ""
    display.note(f"cancelled after epoch {result.iteration}{kept}")
    if args.session:
        also = f" --validation {args.validation}" if args.validation else ""
        display.note(
            f"continue with: updatable train {args.model} --data {args.data}"
            f"{also} --session {args.session} --resume"
        )


def train_knn(
    args: argparse.Namespace,
    data: Dataset,
    validation: Dataset | None,
    out: Path,
    output: Output,
) -> tuple[int | None, dict[str, Any]]:
    """Core ML's kNN update: every example appended in one pass, or none. Returns the exit
    code (``None``: success) and what ``--json`` reports: ``added`` (label -> examples) and
    ``validation_accuracy``."""
    from collections import Counter

    from runtime.model.mlmodel import Model
    from runtime.tools.evaluation import evaluate
    from runtime.training.task import TaskState, UpdateTask

    _check_writable(out)
    state: dict[str, Any] = {}

    def completion(context: Any) -> None:
        state["spec"] = context.model.spec()

    task = UpdateTask(args.model, data.provider(), completion_handler=completion)
    task.resume()
    _wait(task)
    if task.state is TaskState.FAILED:
        raise task.error or RuntimeError("the update task failed without an error")
    save_or_rescue(state["spec"], out)
    added = {str(label): n for label, n in sorted(Counter(data.targets).items())}
    counts = ", ".join(f"{label}: {n}" for label, n in added.items())
    output.line(f"added {len(data)} examples to the kNN ({counts})")
    report: dict[str, Any] = {"added": added, "validation_accuracy": None}
    if validation is not None:
        result = evaluate(Model.load(state["spec"]), validation.inputs_only(), validation.targets)
        output.line(f"validation accuracy {result.accuracy:.1%} on {result.count} examples")
        report["validation_accuracy"] = float(result.accuracy)
    output.line(f"wrote {out}", "green")
    return None, report


def plot(history: list[dict[str, Any]], path: Path, title: str) -> None:
    """Training (and validation) loss per epoch, validation accuracy on a second axis."""
    from runtime.tools.plots import Curve, Panel, save_loss_curves

    epochs = [row["epoch"] for row in history]
    curves = [Curve("training loss", epochs, [row["loss"] for row in history])]
    if any(row.get("mean_loss") is not None for row in history):
        curves[0] = Curve(
            "epoch loss (Core ML: last mini-batch)", epochs, [row["loss"] for row in history]
        )
        curves.append(Curve("mean mini-batch loss", epochs, [row["mean_loss"] for row in history]))
    if any(row.get("validation_loss") is not None for row in history):
        curves.append(Curve("validation loss", epochs, [row["validation_loss"] for row in history]))
    if any(row.get("validation_accuracy") is not None for row in history):
        curves.append(
            Curve(
                "validation accuracy",
                epochs,
                [row["validation_accuracy"] for row in history],
                "dashed",
                axis="right",
                color="tab:green",
            )
        )
    save_loss_curves(path, [Panel(f"updatable train {title}", curves)])
