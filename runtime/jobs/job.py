"""Runtime, jobs layer: ``MLJob`` off-device: a training job running in the background, and its
result.

A :class:`Job` is returned already running by :func:`runtime.train` and
:func:`runtime.resume`. It offers what Create ML's ``MLJob`` publishes
(docs/update-task-semantics.md §12) in two styles:

* callbacks, given to ``train`` / ``resume``: ``on_phase(Phase)``, ``on_progress(Progress)``,
  ``on_checkpoint(Checkpoint)``. They run on the job's thread; an exception in one fails the
  job (as a failing handler fails an update task);
* an iterator: ``for event in job:`` yields the same :class:`~runtime.jobs.progress.Phase`,
  :class:`~runtime.jobs.progress.Progress` and :class:`~runtime.jobs.checkpoints.Checkpoint` values
  in order, then the :class:`JobResult`; it raises the job's error if the job failed. Events are
  buffered from the start, so iterating late loses nothing; a second iteration yields only
  what the first left (then the result).

``cancel()`` stops at the next mini-batch boundary and keeps the last completed epoch: the
result and the session's last checkpoint hold that epoch's state (Create ML has only cancel
as a control verb; a pause is cancel, restore, resume). ``wait()`` blocks and returns the
result, or raises the failure.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from runtime.jobs.checkpoints import Checkpoint
from runtime.jobs.progress import Metric, Phase, Progress
from updatable import proto

_DONE = object()


@dataclass
class JobResult:
    """The outcome of a job: ``MLJob.result``.

    ``spec`` is the updated model (the original with the trained weights); ``model`` compiles
    it on first use into a :class:`runtime.Model`. ``iteration`` counts the session's
    completed iterations; ``stopped_by`` is ``"iterations"`` (the session's limit),
    ``"cancelled"``, or the ``name`` of the stopping criterion that fired (``criterion`` is
    that object). With an :class:`~runtime.jobs.stopping.EarlyStopping` that fired and has
    ``restore_best``, ``spec`` holds the weights of ``best_iteration``. ``checkpoint`` is the
    session checkpoint of exactly these weights (``None`` without a session directory).
    """

    spec: proto.Model
    iteration: int
    stopped_by: str
    metrics: dict[Metric, float]
    criterion: Any = None
    best_iteration: int | None = None
    checkpoint: Checkpoint | None = None
    cache: Any = None  # runtime.jobs.feature_cache.CacheStats, or None without a cache
    per_example_features: bool | None = None  # the batch-independence decision
    model_factory: Callable[[proto.Model], Any] | None = field(default=None, repr=False)

    @cached_property
    def model(self):
        """The trained model, compiled (``runtime.Model``)."""
        return self.model_factory(self.spec)

    def write(self, path: str | Path) -> None:
        """Save the trained model as a ``.mlmodel`` (atomically)."""
        from updatable import spec as spec_io

        spec_io.save(self.spec, path)


class Job:
    """A running training job (``MLJob``); see the module docstring."""

    def __init__(self, runner, *, on_progress=None, on_checkpoint=None, on_phase=None, lock=None):
        self._runner = runner
        self._lock = lock  # the session directory's lock, released when the run ends
        self._callbacks = {"progress": on_progress, "checkpoint": on_checkpoint, "phase": on_phase}
        self._events: queue.Queue = queue.Queue()
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self.start_date = datetime.now(UTC)
        self.phase = Phase.INITIALIZED
        self.progress: Progress | None = None
        self.checkpoints: list[Checkpoint] = []
        self.result: JobResult | None = None
        self.error: BaseException | None = None
        # what the job noticed on the way (a stale session lock taken over), for the caller
        self.notes: list[str] = [lock.note] if lock is not None and lock.note else []

    def start(self) -> Job:
        self._thread = threading.Thread(target=self._run, name="TrainingJob", daemon=True)
        self._thread.start()
        return self

    # -- control --------------------------------------------------------------------------
    def cancel(self) -> None:
        """Stop at the next mini-batch boundary, keeping the last completed epoch."""
        self._cancel.set()

    @property
    def is_cancelled(self) -> bool:
        """``isCanceled``: ``cancel()`` was called (the job may still be finishing)."""
        return self._cancel.is_set()

    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> JobResult:
        """Block until the job ends; return its result or raise its error.

        Raises ``TimeoutError`` if it is still running after ``timeout`` seconds.
        """
        if not self._done.wait(timeout):
            raise TimeoutError(f"the training job is still running after {timeout} s")
        if self.error is not None:
            raise self.error
        assert self.result is not None, "a finished job has a result or an error"
        return self.result

    def __iter__(self) -> Iterator[Phase | Progress | Checkpoint | JobResult]:
        while True:
            event = self._events.get()
            if event is _DONE:
                self._events.put(_DONE)  # a second iteration ends too
                break
            yield event
        if self.error is not None:
            raise self.error
        assert self.result is not None, "a finished job has a result or an error"
        yield self.result

    # -- used by the runner, on the job's thread --------------------------------------------
    def emit_phase(self, phase: Phase) -> None:
        self.phase = phase
        self._emit("phase", phase)

    def emit_progress(self, progress: Progress) -> None:
        self.progress = progress
        self._emit("progress", progress)

    def emit_checkpoint(self, checkpoint: Checkpoint) -> None:
        self.checkpoints.append(checkpoint)
        self._emit("checkpoint", checkpoint)

    def _emit(self, kind: str, value) -> None:
        self._events.put(value)
        callback = self._callbacks[kind]
        if callback is not None:
            callback(value)

    def _run(self) -> None:
        try:
            self.result = self._runner.run(self)
        except BaseException as exc:  # every failure reaches wait() and the iterator
            self.error = exc
        finally:
            self._runner = None  # free the network and cache once finished
            if self._lock is not None:
                self._lock.release()  # before done: a caller may start the next run at once
            self._done.set()
            self._events.put(_DONE)
