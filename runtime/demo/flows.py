"""Runtime, demo layer: the two ways the demo updates a model on the user's drawings, both through
``UpdateTask``.

* :func:`run_update` trains an updatable neural network exactly as Core ML's
  ``MLUpdateTask`` would, subscribed to ``miniBatchEnd`` and ``epochEnd`` so that the losses
  stream out as the task runs (the base classifier and the fine-tuned head both use it);
* :func:`update_knn` adds the user's drawings to the empty kNN at the end of a
  feature-extractor + kNN pipeline: one pass, no epochs and no loss (Core ML's kNN update).

Both return the updated ``Model`` protobuf, taken from ``context.model`` inside the
completion handler, the only place Core ML lets an app read it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from runtime.demo.events import EpochEnd, MiniBatchEnd, TrainingFinished, TrainingStarted
from runtime.model.configuration import ParameterKey
from runtime.training.providers import ArrayBatchProvider
from runtime.training.task import Event, MetricKey, TaskState, UpdateProgressHandlers, UpdateTask
from updatable import proto

Emit = Callable[[object], None]
POLL_SECONDS = 0.2  # how often the waiting thread wakes up, so Ctrl-C is handled promptly


@dataclass
class UpdateOutcome:
    """What an update produced: the updated spec and the losses it reported."""

    spec: proto.Model
    seconds: float
    epoch_losses: list[float] = field(default_factory=list)  # Core ML's epochEnd lossValue
    epoch_mean_losses: list[float] = field(default_factory=list)  # mean of each epoch's batches
    batch_losses: list[float] = field(default_factory=list)  # every miniBatchEnd lossValue
    validation_accuracy: list[float] = field(default_factory=list)
    hyperparameters: dict = field(default_factory=dict)


def image_provider(
    images: np.ndarray, labels: Sequence, image: str = "image", label: str = "label"
) -> ArrayBatchProvider:
    """An ``ArrayBatchProvider`` of ``{image: (28, 28) uint8, label: str}`` examples."""
    return ArrayBatchProvider({image: list(images), label: [str(v) for v in labels]})


def wait_for(task) -> None:
    """Wait until ``task`` has ended, its completion handler included; on Ctrl-C cancel it
    (Core ML's ``cancel()``) and re-raise.

    The state turns ``COMPLETED`` or ``FAILED`` just before the completion handler runs, so
    the state alone does not say the handler is done: the final wait joins the task's thread.
    """
    try:
        while task.wait(POLL_SECONDS) not in (TaskState.COMPLETED, TaskState.FAILED):
            pass
        task.wait()
    except KeyboardInterrupt:
        task.cancel()
        task.wait()
        raise


def run_update(
    spec: proto.Model,
    provider,
    flow: str,
    emit: Emit,
    validation: Callable[[object], float] | None = None,
) -> UpdateOutcome:
    """Train ``spec`` on ``provider`` with an ``UpdateTask``, emitting events as it runs.

    ``validation(model) -> accuracy`` is called with ``context.model`` at every epoch end
    (Core ML reports only the loss; measuring accuracy there is what an app would do).
    Raises the task's error if it failed.
    """
    outcome = UpdateOutcome(spec=spec, seconds=0.0)
    epoch_batches: list[float] = []
    started = time.perf_counter()

    def progress(context) -> None:
        if context.event is Event.TRAINING_BEGIN:
            values = {str(key): value for key, value in context.parameters.items()}
            outcome.hyperparameters = values
            epochs = int(values["epochs"])
            batch = int(values["miniBatchSize"])
            emit(TrainingStarted(flow, epochs, -(-provider.count // batch), provider.count, values))
        elif context.event is Event.MINI_BATCH_END:
            loss = float(context.metrics[MetricKey.LOSS_VALUE])
            epoch_batches.append(loss)
            outcome.batch_losses.append(loss)
            emit(
                MiniBatchEnd(
                    flow,
                    len(outcome.epoch_losses),
                    int(context.metrics[MetricKey.MINI_BATCH_INDEX]),
                    loss,
                )
            )
        elif context.event is Event.EPOCH_END:
            loss, mean, accuracy = _record_epoch(context, outcome, epoch_batches, validation)
            epochs = int(context.parameters[ParameterKey.EPOCHS])
            emit(
                EpochEnd(
                    flow, int(context.metrics[MetricKey.EPOCH_INDEX]), epochs, loss, mean, accuracy
                )
            )

    def completion(context) -> None:
        outcome.spec = context.model.spec()

    events = Event.TRAINING_BEGIN | Event.MINI_BATCH_END | Event.EPOCH_END
    task = UpdateTask(
        spec, provider, progress_handlers=UpdateProgressHandlers(events, progress, completion)
    )
    task.resume()
    wait_for(task)
    if task.state is TaskState.FAILED:
        raise task.error or RuntimeError("the update task failed without an error")
    outcome.seconds = time.perf_counter() - started
    final = outcome.epoch_losses[-1] if outcome.epoch_losses else None
    emit(TrainingFinished(flow, outcome.seconds, final))
    return outcome


def _record_epoch(context, outcome: UpdateOutcome, epoch_batches: list, validation):
    """An epoch's ``(loss, mean mini-batch loss, validation accuracy or None)``, recorded in
    ``outcome``; ``epoch_batches`` starts over."""
    loss = float(context.metrics[MetricKey.LOSS_VALUE])
    mean = float(np.mean(epoch_batches)) if epoch_batches else loss
    epoch_batches.clear()
    accuracy = validation(context.model) if validation is not None else None
    outcome.epoch_losses.append(loss)
    outcome.epoch_mean_losses.append(mean)
    if accuracy is not None:
        outcome.validation_accuracy.append(accuracy)
    return loss, mean, accuracy


def update_knn(spec: proto.Model, provider, flow: str, emit: Emit) -> UpdateOutcome:
    """Add every example of ``provider`` to the kNN of ``spec`` (a kNN or a pipeline ending in
    one) with an ``UpdateTask``: Core ML's one-pass, all-or-nothing kNN update."""
    outcome = UpdateOutcome(spec=spec, seconds=0.0)
    started = time.perf_counter()

    def completion(context) -> None:
        outcome.spec = context.model.spec()

    emit(TrainingStarted(flow, 0, 0, provider.count))
    task = UpdateTask(spec, provider, completion_handler=completion)
    task.resume()
    wait_for(task)
    if task.state is TaskState.FAILED:
        raise task.error or RuntimeError("the update task failed without an error")
    outcome.seconds = time.perf_counter() - started
    emit(TrainingFinished(flow, outcome.seconds, None))
    return outcome
