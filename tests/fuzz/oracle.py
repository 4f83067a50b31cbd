"""Run one mutant the way a user would, and name what happened.

Stages: ``validate`` (``updatable.validate``; a mutant with an error stops here, as Core ML
would refuse it), ``load`` (``runtime.Model.load``), ``predict`` (two examples made from the
description) and, for an updatable model, ``train`` (an ``UpdateTask`` on two examples,
cancelled after its first mini-batch; a kNN update is one pass). A training step still
running after ``TRAIN_SECONDS`` (a huge mini-batch the memory bound allows) is cancelled; the
cancel must be honoured within ``CANCEL_SECONDS``.

Outcomes (``Outcome.status``):

* ``invalid``: the validator refused the mutant (nothing else to check);
* ``ran``: every stage ran;
* ``refused``: a stage raised a project exception (``updatable.errors.UpdatableError``) with a
  one-line message;
* ``too_large``: the description asks for a value the harness will not build
  (:class:`tests.fuzz.inputs.TooLarge`), and the runtime did not refuse it first;
* ``crash``: anything else: another exception type, a message of several lines or none, a
  warning printed by numpy, a stage over its time limit (``hang``), a cancel not honoured.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import warnings
from dataclasses import dataclass

import numpy as np

import runtime
from runtime.kernels import memory
from tests.fuzz.inputs import TooLarge, prediction_inputs, training_examples
from updatable import proto
from updatable.errors import UpdatableError
from updatable.validation import validate

STAGE_SECONDS = 10.0
TRAIN_SECONDS = 2.0  # then the training step is cancelled (it may be a huge mini-batch)
CANCEL_SECONDS = 1.0  # the promise: a cancel is honoured within a second
# The runtime's memory bound while a mutant runs: sizes past it must be refused up front
# (runtime.kernels.memory), so no mutant can make the harness itself run out of memory.
MEMORY_BOUND = 512 * 10**6


class StageTimeout(BaseException):
    """A stage ran past its time limit (a BaseException: nothing in the runtime catches it)."""


class CancelIgnored(Exception):
    """A training step that was not stopped within ``CANCEL_SECONDS`` of its cancel."""


@dataclass(frozen=True)
class Outcome:
    status: str  # invalid | ran | refused | too_large | crash
    stage: str = ""  # where it ended: validate | load | predict | train
    error: str = ""  # the exception type (or "hang", "warning")
    message: str = ""

    @property
    def kept_promise(self) -> bool:
        return self.status != "crash"


@contextlib.contextmanager
def _time_limit(seconds: float):
    """Raise :class:`StageTimeout` in the main thread after ``seconds`` (no-op elsewhere)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(signum, frame):
        raise StageTimeout

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _root_cause(error: BaseException) -> BaseException:
    """The exception an update task wrapped (``UpdateTaskError`` keeps it as ``__cause__``)."""
    while type(error).__name__ == "UpdateTaskError" and error.__cause__ is not None:
        error = error.__cause__
    return error


def classify(stage: str, error: BaseException) -> Outcome:
    """The outcome of ``error`` raised in ``stage``."""
    error = _root_cause(error)
    name, message = type(error).__name__, str(error)
    if isinstance(error, StageTimeout):
        return Outcome("crash", stage, "hang", f"over {STAGE_SECONDS:.0f} s")
    if isinstance(error, TooLarge):
        return Outcome("too_large", stage, name, message)
    if isinstance(error, UpdatableError):
        if not message.strip() or "\n" in message.strip():
            return Outcome("crash", stage, name, f"not a one-line message: {message!r}")
        return Outcome("refused", stage, name, message)
    return Outcome("crash", stage, name, message)


def _train(spec: proto.Model, rng) -> None:
    """One mini-batch of an update task (the whole pass of a kNN update)."""
    provider = runtime.ArrayBatchProvider(training_examples(spec, rng))

    def stop_after_first(context):
        context.task.cancel()

    handlers = runtime.UpdateProgressHandlers(runtime.Event.MINI_BATCH_END, stop_after_first, None)
    task = runtime.UpdateTask(spec, provider, progress_handlers=handlers)
    task.resume()
    state = task.wait(TRAIN_SECONDS)
    if state in (runtime.TaskState.RUNNING, runtime.TaskState.CANCELLING):
        task.cancel()
        asked = time.perf_counter()
        if task.wait(STAGE_SECONDS) not in (runtime.TaskState.COMPLETED, runtime.TaskState.FAILED):
            raise StageTimeout
        if time.perf_counter() - asked > CANCEL_SECONDS:
            raise CancelIgnored(f"the cancel took {time.perf_counter() - asked:.1f} s")
    if task.error is not None:
        raise task.error


def run_mutant(spec: proto.Model, seed: int = 0) -> Outcome:
    """Validate, load, predict and (when updatable) train ``spec``; see the module docstring."""
    try:
        issues = validate(spec)
    except Exception as exc:  # the validator must answer with issues, never raise
        return Outcome("crash", "validate", type(exc).__name__, str(exc))
    if any(issue.severity == "error" for issue in issues):
        return Outcome("invalid", "validate")
    rng = np.random.default_rng(seed)
    stage = "load"
    with memory.limited(MEMORY_BOUND), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with _time_limit(STAGE_SECONDS):
                model = runtime.Model.load(spec)
                stage = "predict"
                model.predict_batch(prediction_inputs(spec, rng))
            if spec.isUpdatable:
                stage = "train"
                _train(spec, rng)
        except BaseException as exc:  # every failure is an outcome here
            if isinstance(exc, KeyboardInterrupt):
                raise
            outcome = classify(stage, exc)
        else:
            outcome = Outcome("ran", stage)
    leaked = [w for w in caught if issubclass(w.category, (RuntimeWarning, UserWarning))]
    if leaked and outcome.kept_promise:
        first = leaked[0]
        return Outcome("crash", stage, "warning", f"{first.category.__name__}: {first.message}")
    return outcome


def timed(spec: proto.Model, seed: int = 0) -> tuple[Outcome, float]:
    """:func:`run_mutant` and its duration in seconds."""
    start = time.perf_counter()
    outcome = run_mutant(spec, seed)
    return outcome, time.perf_counter() - start
