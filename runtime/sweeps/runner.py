"""Runtime, sweeps layer: one sweep task: a simulated user updates the model with one combination,
then is scored.

:func:`run_task` runs the real :class:`runtime.training.task.UpdateTask` (Core ML's ``MLUpdateTask``
semantics) on the user's training examples with the combination as load-time
``ModelConfiguration.parameters``, subscribed to ``epochEnd`` to record the epoch losses, as an
app showing progress would (Core ML's default engine reshuffles between epochs only then,
docs/update-task-semantics.md §6). The updated model from the completion handler is then scored,
next to the untouched model:

* neural networks: the mean training loss over the user's training examples before and after
  (the loss exactly as training computes it), the held-out loss, and for cross-entropy the
  held-out accuracy;
* kNN classifiers: held-out accuracy of the model's predicted label, with the combination's
  ``numberOfNeighbors`` (no loss exists).

The row also records the update's wall time (task creation, which loads and validates the
model, through completion) and, for the first user of each combination, its peak traced
allocation (``tracemalloc``: Python objects and numpy buffers). Tracing slows an update about
4x, so memory comes from a separate re-run of the same update, never from the timed one.
Everything except
:data:`MEASURED_FIELDS` depends only on the model, the data, the user and the combination, so
rows are identical whichever process or machine ran them.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import time
import tracemalloc
from dataclasses import dataclass
from typing import Any

import numpy as np

from runtime.model.configuration import ModelConfiguration
from runtime.sweeps.feed import FeedPlan
from runtime.sweeps.users import User
from runtime.training.providers import ArrayBatchProvider
from runtime.training.task import Event, MetricKey, UpdateProgressHandlers, UpdateTask
from updatable import spec as spec_io

MEASURED_FIELDS = ("seconds", "eval_seconds", "peak_memory_mb", "worker")
MEMORY_USER = 0  # the user whose updates are re-run to trace memory, once per combination
EVAL_BATCH = 256  # held-out examples per evaluation call
_BEFORE_CACHE_LIMIT = 4096

# tracemalloc is process-wide: only one task at a time may measure (threaded Dask workers).
_MEMORY_LOCK = threading.Lock()
# per worker process: the parsed model and scores of the untouched model, by sweep fingerprint
_WORKER_STATE: dict[str, dict] = {}


@dataclass(frozen=True)
class SweepContext:
    """What every task of a sweep shares (sent once to each worker)."""

    fingerprint: str
    model_bytes: bytes
    x: np.ndarray
    y: np.ndarray
    plan: FeedPlan
    measure_memory: bool = True


@dataclass(frozen=True)
class SweepTask:
    """One (combination, user) pair; ``key`` identifies it in the results file."""

    key: str
    combination: tuple[tuple[str, float | int], ...]
    user: User


def run_task(context: SweepContext, task: SweepTask) -> dict:
    """Update the model for one user with one combination and score it; returns the row."""
    state = _state(context)
    combination = dict(task.combination)
    train = _provider(context, task.user.train)
    if not state["warm"]:
        # the first update in a process loads code (imports, numba's cache, BLAS buffers):
        # run it once unmeasured, so time and memory describe updates, not process start
        _update(state["spec"], train, combination, measure=False)
        state["warm"] = True
    outcome = _update(state["spec"], train, combination, measure=False)
    peak = None
    if context.measure_memory and task.user.index == MEMORY_USER:
        # tracing slows an update about 4x: memory comes from a separate, identical re-run
        peak = _update(state["spec"], train, combination, measure=True).peak
    row = {
        "key": task.key,
        "combination": combination,
        "user": task.user.index,
        "classes": list(task.user.classes),
        "n_train": len(task.user.train),
        "n_test": len(task.user.test),
        **_failure(outcome.error),
        "task_loss": _finite(outcome.loss),
        "epoch_losses": [_finite(v) for v in outcome.epoch_losses],
    }
    evaluated = time.perf_counter()
    # a diverged model overflows while it is scored: expected, and recorded as None values
    with np.errstate(over="ignore", invalid="ignore"):
        row.update(_before(context, state, task.user, combination))
        if outcome.spec is not None:
            row.update(_scores(context, outcome.spec, task.user, combination, "after"))
        else:
            row.update(train_loss=None, test_loss=None, test_accuracy=None)
    row["nonfinite"] = row["error_kind"] == "nonfinite" or any(
        row[name] is None and row["status"] == "ok" and context.plan.loss is not None
        for name in ("train_loss", "test_loss")
    )
    row.update(
        seconds=outcome.seconds,
        eval_seconds=time.perf_counter() - evaluated,
        peak_memory_mb=None if peak is None else peak / 2**20,
        worker=f"{socket.gethostname()}:{os.getpid()}",
    )
    return row


@dataclass
class _Outcome:
    error: Exception | None
    spec: object | None  # the updated Model protobuf, None if the task failed
    loss: float | None
    epoch_losses: list[float]
    seconds: float
    peak: int | None  # bytes


def _update(spec, train, combination: dict, *, measure: bool) -> _Outcome:
    """Run Core ML's update task once (subscribed to epochEnd) and time it."""
    losses: list[float] = []
    holder: dict = {}

    def on_epoch(context):
        losses.append(float(context.metrics[MetricKey.LOSS_VALUE]))

    def on_completion(context):
        if context.model is not None:
            holder["spec"] = context.model.spec()
            holder["loss"] = context.metrics.get(MetricKey.LOSS_VALUE)

    configuration = ModelConfiguration(parameters=combination)
    handlers = UpdateProgressHandlers(Event.EPOCH_END, on_epoch, on_completion)
    measuring = measure and _start_measuring()
    started = time.perf_counter()
    try:
        task = UpdateTask(spec, train, configuration, handlers)
        task.resume()
        task.wait()
    finally:
        seconds = time.perf_counter() - started
        peak = _stop_measuring() if measuring else None
    return _Outcome(task.error, holder.get("spec"), holder.get("loss"), losses, seconds, peak)


def _state(context: SweepContext) -> dict:
    state = _WORKER_STATE.get(context.fingerprint)
    if state is None:
        _WORKER_STATE.clear()  # one sweep at a time per worker: drop an older one
        spec = spec_io.loads(context.model_bytes, "sweep model")
        state = _WORKER_STATE[context.fingerprint] = {"spec": spec, "before": {}, "warm": False}
    return state


def _provider(context: SweepContext, indices) -> ArrayBatchProvider:
    plan = context.plan
    return ArrayBatchProvider([plan.example(context.x[i], context.y[i]) for i in indices])


def _failure(error) -> dict:
    """Status columns: ``ok``, or ``failed`` with the error and its kind."""
    if error is None:
        return {"status": "ok", "error": None, "error_kind": None}
    from runtime.training.examples import ExampleError
    from runtime.training.loop import TrainingError
    from updatable.errors import FeatureError, KnnUpdateError

    if isinstance(error, ExampleError | FeatureError | KnnUpdateError):
        kind = "data"  # the examples do not fit the model: the same for every task
    elif isinstance(error, TrainingError):
        kind = "nonfinite"  # the loop's own failures: a NaN or infinite loss, weights blown up
    else:
        kind = "other"
    return {"status": "failed", "error": f"{type(error).__name__}: {error}", "error_kind": kind}


def _before(context, state, user: User, combination: dict) -> dict:
    """Scores of the untouched model for this user (cached: they repeat for every
    combination; a kNN's depend on k)."""
    k = combination.get("numberOfNeighbors") if context.plan.loss is None else None
    cache = state["before"]
    key = (user.index, k)
    if key not in cache:
        if len(cache) >= _BEFORE_CACHE_LIMIT:
            cache.clear()
        cache[key] = _scores(context, state["spec"], user, combination, "before")
    return cache[key]


def _scores(context, spec, user: User, combination: dict, when: str) -> dict:
    suffix = "_before" if when == "before" else ""
    if context.plan.loss is None:
        return {
            f"train_loss{suffix}": None,
            f"test_loss{suffix}": None,
            f"test_accuracy{suffix}": _knn_accuracy(context, spec, user.test, combination),
        }
    from runtime.training.updates import open_update

    # a NeuralNetworkUpdate: the model has a loss
    update: Any = open_update(
        spec, _provider(context, user.train), ModelConfiguration(), Event(0), "numba"
    )
    train_loss, _ = _network_scores(update, update.source.provider, accuracy=False)
    test_loss, accuracy = _network_scores(
        update, _provider(context, user.test), accuracy=context.plan.has_accuracy
    )
    return {
        f"train_loss{suffix}": train_loss,
        f"test_loss{suffix}": test_loss,
        f"test_accuracy{suffix}": accuracy,
    }


def _network_scores(update, provider, *, accuracy: bool) -> tuple[float | None, float | None]:
    """Mean loss (as training computes it) and argmax accuracy over a provider's examples."""
    from runtime.training.examples import TrainingSource

    base = update.source
    source = TrainingSource(
        provider, base.inputs, base.target_names, base.labels, base.target_shape
    )
    total, correct = 0.0, 0
    for first in range(0, source.count, EVAL_BATCH):
        batch = source.fetch(list(range(first, min(source.count, first + EVAL_BATCH))))
        loss, rows = update.backend.evaluate(batch)
        total += loss * len(batch.indices)
        if accuracy:
            correct += int(np.count_nonzero(rows.argmax(axis=1) == batch.target))
    return _finite(total / source.count), (correct / source.count if accuracy else None)


def _knn_accuracy(context, spec, indices, combination: dict) -> float:
    from runtime.model.mlmodel import Model

    parameters = {k: v for k, v in combination.items() if k == "numberOfNeighbors"}
    model = Model.load(spec, ModelConfiguration(parameters=parameters))
    plan = context.plan
    examples = [
        {plan.input_name: plan.example(context.x[i], context.y[i])[plan.input_name]}
        for i in indices
    ]
    predicted_name = model.spec.description.predictedFeatureName
    outputs = model.predict_batch(examples)
    hits = sum(
        out[predicted_name] == plan.label(context.y[i])
        for out, i in zip(outputs, indices, strict=True)
    )
    return hits / len(indices)


def _finite(value) -> float | None:
    """A float for the JSON row; ``None`` for a missing or non-finite value."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _start_measuring() -> bool:
    if tracemalloc.is_tracing() or not _MEMORY_LOCK.acquire(blocking=False):
        return False
    tracemalloc.start()
    return True


def _stop_measuring() -> int:
    try:
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        _MEMORY_LOCK.release()
