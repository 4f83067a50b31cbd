"""Runtime, training layer: ``MLUpdateTask`` off-device: the task state machine, events, metrics
and contexts.

Behaviour (docs/update-task-semantics.md §2, §3; [INFERRED] there unless noted):

* The model is loaded and validated, and every configuration override checked, in the
  constructor: errors raise there. The task starts ``SUSPENDED``; nothing runs until
  ``resume()``, which trains on a background thread.
* Progress events: ``TRAINING_BEGIN`` with ``{}``, ``MINI_BATCH_END`` with ``{miniBatchIndex,
  lossValue}`` (the index restarts every epoch), ``EPOCH_END`` with ``{epochIndex,
  lossValue}``; completion with ``{lossValue}``. Only subscribed events are delivered.
* While a progress handler runs, the task is ``SUSPENDED`` and training waits; afterwards the
  task resumes itself. ``context.task.resume(parameters)`` inside a handler resumes with a new
  learning rate, applied from the next mini-batch; other keys are ignored (only
  ``learningRate`` is adjustable in progress).
* ``cancel()`` moves the task to ``CANCELLING`` and then ``COMPLETED`` (Core ML has no
  cancelled state); training stops at the next mini-batch boundary, the completion handler is
  not called and no file is written. (Core ML's default engine observes a cancel only at the
  callbacks of subscribed events; we observe it at every mini-batch boundary.)
* A failure (bad example, non-finite loss, provider error, an exception in a handler) moves
  the task to ``FAILED``, sets ``error`` and calls the completion handler with
  ``context.model`` set to ``None``.
* ``context.model`` is valid only during the callback; using it afterwards raises
  :class:`ModelInvalidatedError` ("Model is no longer valid outside update callback").
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

from runtime.model.configuration import ModelConfiguration, ParameterKey, as_key
from runtime.training.events import Event, MetricKey
from runtime.training.loop import StopTraining
from runtime.training.updates import open_update
from updatable.errors import UpdatableError


class TaskState(IntEnum):
    """``MLTaskState`` with Core ML's raw values."""

    SUSPENDED = 1
    RUNNING = 2
    CANCELLING = 3
    COMPLETED = 4
    FAILED = 5


class ModelInvalidatedError(UpdatableError, RuntimeError):
    """``context.model`` used after its callback returned."""


class UpdateTaskError(UpdatableError, RuntimeError):
    """The reason an update task failed (``task.error``)."""


@dataclass
class UpdateProgressHandlers:
    """``MLUpdateProgressHandlers(forEvents:progressHandler:completionHandler:)``."""

    events: Event = field(default_factory=lambda: Event(0))
    progress_handler: Callable[[UpdateContext], None] | None = None
    completion_handler: Callable[[UpdateContext], None] | None = None


@dataclass
class UpdateContext:
    """``MLUpdateContext``: what a handler sees."""

    task: UpdateTask
    model: Any
    event: Event | None
    metrics: dict[MetricKey, Any] = field(default_factory=dict)
    parameters: dict[ParameterKey, Any] = field(default_factory=dict)


class CallbackModel:
    """``context.model``: the model as updated so far, usable only inside the callback.

    ``write(path)`` stores it as a ``.mlmodel`` (atomically); ``parameter_value(key)`` returns
    copies of hyperparameters or of a layer's weights (``ParameterKey.WEIGHTS.scoped(layer)``);
    ``predict`` / ``predict_batch`` run it; ``spec()`` returns the updated protobuf.
    """

    def __init__(self, update):
        self._update = update
        self._valid = True

    def _check(self):
        if not self._valid:
            raise ModelInvalidatedError(
                "Model is no longer valid outside update callback: use context.model (write, "
                "predict, parameter_value) inside the progress or completion handler"
            )

    def invalidate(self) -> None:
        self._valid = False

    def spec(self):
        self._check()
        return self._update.updated_spec()

    def write(self, path: str | Path) -> None:
        self._check()
        from updatable import spec as spec_io

        spec_io.save(self._update.updated_spec(), path)

    def parameter_value(self, key: ParameterKey | str):
        self._check()
        return self._update.parameter_value(as_key(key))

    def predict(self, features: Mapping[str, Any]) -> dict:
        self._check()
        return self._update.updated_model().predict(features)

    def predict_batch(self, batch) -> list[dict]:
        self._check()
        return self._update.updated_model().predict_batch(batch)


class UpdateTask:
    """Train a model on a batch provider as Core ML's ``MLUpdateTask`` does.

    Args:
        model: path of an updatable ``.mlmodel`` (Core ML takes the compiled ``.mlmodelc``;
            the uncompiled file is the off-device equivalent), a ``Model`` protobuf or a
            coremltools ``MLModel``.
        training_data: a :class:`runtime.training.providers.BatchProvider`.
        configuration: :class:`ModelConfiguration` with parameter overrides.
        progress_handlers: :class:`UpdateProgressHandlers`.
        completion_handler: shorthand for handlers with no progress events.
        backend: ``"numba"`` (default) or ``"onnxruntime"`` (neural networks only).

    Raises (at construction, like Core ML's throwing initializer): ``ModelFileError`` for an
    unreadable model, ``ValidationError`` for an invalid or non-updatable one,
    ``ParameterError`` for an override outside the model's allowed values.
    """

    def __init__(
        self,
        model,
        training_data,
        configuration: ModelConfiguration | None = None,
        progress_handlers: UpdateProgressHandlers | None = None,
        *,
        completion_handler: Callable[[UpdateContext], None] | None = None,
        backend: str = "numba",
    ):
        if progress_handlers is None:
            progress_handlers = UpdateProgressHandlers(completion_handler=completion_handler)
        self.task_identifier = str(uuid.uuid4())
        self._handlers = progress_handlers
        self._configuration = configuration or ModelConfiguration()
        self._update = open_update(
            model, training_data, self._configuration, self._handlers.events, backend
        )
        self._lock = threading.Condition()
        self._state = TaskState.SUSPENDED
        self._started = False
        self._thread: threading.Thread | None = None
        self._on_training_thread = threading.local()
        self.error: Exception | None = None

    # -- public API -------------------------------------------------------------------------
    @property
    def state(self) -> TaskState:
        return self._state

    def resume(self, parameters: Mapping[ParameterKey | str, Any] | None = None) -> None:
        """Start the task, or (inside a progress handler) continue it, optionally with a new
        learning rate. Outside those two situations this does nothing, as in Core ML."""
        with self._lock:
            if getattr(self._on_training_thread, "active", False):
                if self._state is TaskState.SUSPENDED:
                    if parameters:
                        self._update.set_parameters({as_key(k): v for k, v in parameters.items()})
                    self._state = TaskState.RUNNING
                return
            if self._started or self._state is not TaskState.SUSPENDED:
                return
            self._started = True
            self._state = TaskState.RUNNING
            self._thread = threading.Thread(
                target=self._run, name=f"UpdateTask-{self.task_identifier[:8]}", daemon=True
            )
            self._thread.start()

    def cancel(self) -> None:
        """Stop at the next mini-batch boundary; the task ends ``COMPLETED`` without calling
        the completion handler."""
        with self._lock:
            if self._state in (TaskState.SUSPENDED, TaskState.RUNNING):
                if self._started:
                    self._state = TaskState.CANCELLING
                else:
                    self._state = TaskState.COMPLETED
                self._lock.notify_all()

    def wait(self, timeout: float | None = None) -> TaskState:
        """Block until the task has finished (or ``timeout`` seconds); returns the state."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self._state

    # -- training thread ----------------------------------------------------------------
    def _run(self) -> None:
        self._on_training_thread.active = True
        try:
            final_loss = self._update.run(self)
        except StopTraining:
            self._finish_cancelled()
            return
        except Exception as exc:  # every failure reaches task.error, as in Core ML
            self._fail(exc)
            return
        with self._lock:
            if self._state is TaskState.CANCELLING:
                self._state = TaskState.COMPLETED
                return
            self._state = TaskState.COMPLETED
        metrics = {} if final_loss is None else {MetricKey.LOSS_VALUE: final_loss}
        self._call_completion(metrics, self._update)

    def _finish_cancelled(self) -> None:
        with self._lock:
            self._state = TaskState.COMPLETED

    def _fail(self, exc: Exception) -> None:
        error = (
            exc
            if isinstance(exc, UpdatableError)
            else UpdateTaskError(f"{type(exc).__name__}: {exc}")
        )
        if error is not exc:
            error.__cause__ = exc
        with self._lock:
            self.error = error
            self._state = TaskState.FAILED
        self._call_completion({}, None)

    def _call_completion(self, metrics, update) -> None:
        handler = self._handlers.completion_handler
        if handler is None:
            return
        model = CallbackModel(update) if update is not None else None
        parameters = update.parameters_snapshot() if update is not None else {}
        context = UpdateContext(self, model, None, metrics, parameters)
        try:
            handler(context)
        except Exception as exc:  # the task has ended; record the handler's failure
            error = UpdateTaskError(f"the completion handler raised {type(exc).__name__}: {exc}")
            error.__cause__ = exc
            with self._lock:
                self.error = self.error or error
                self._state = TaskState.FAILED
        finally:
            if model is not None:
                model.invalidate()

    def check_stop(self) -> None:
        """Called by the update at every mini-batch boundary."""
        if self._state in (TaskState.CANCELLING, TaskState.COMPLETED):
            raise StopTraining

    def notify(self, event: Event, metrics: dict[MetricKey, Any]) -> None:
        """Deliver a progress event if subscribed (the task is SUSPENDED meanwhile)."""
        if not (self._handlers.events & event) or self._handlers.progress_handler is None:
            return
        with self._lock:
            if self._state is not TaskState.RUNNING:
                return  # cancelled: no more events
            self._state = TaskState.SUSPENDED
        model = CallbackModel(self._update)
        context = UpdateContext(self, model, event, metrics, self._update.parameters_snapshot())
        try:
            self._handlers.progress_handler(context)
        finally:
            model.invalidate()
            with self._lock:
                if self._state is TaskState.SUSPENDED:
                    self._state = TaskState.RUNNING  # the automatic resume after a handler
        self.check_stop()
