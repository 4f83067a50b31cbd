"""Runtime, jobs layer: stopping criteria for training jobs (``train(..., stop_when=[...])``).

Create ML stops a session at ``iterations`` or "on convergence"; its documented pattern for
anything else is to watch the progress metrics and cancel (docs/update-task-semantics.md §12), and
Create ML Components stops early when the validation loss has not improved by a tolerance
for a number of iterations (§C). A job evaluates every criterion at each iteration (epoch)
end, after the validation metrics are computed; the first that fires stops the job, and the
result names it.

A criterion is a frozen dataclass with pure state handling (house rule 2):
``initial_state() -> dict`` and ``observe(state, progress) -> (state, stop)``. The state is
JSON data, stored in every checkpoint so a resumed session stops exactly where an
uninterrupted one would. ``metrics_needed`` lets the job refuse, before training, a criterion
on a metric it will never report (e.g. a validation target without validation data).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from runtime.jobs.progress import Metric, Progress
from updatable.errors import ParameterError

# whether a metric improves by going down or up
GOALS = {
    Metric.LOSS: "min",
    Metric.VALIDATION_LOSS: "min",
    Metric.ACCURACY: "max",
    Metric.VALIDATION_ACCURACY: "max",
}


class StoppingCriterion(Protocol):
    name: str
    metrics_needed: tuple[Metric, ...]

    def initial_state(self) -> dict[str, Any]: ...

    def observe(self, state: dict[str, Any], progress: Progress) -> tuple[dict[str, Any], bool]: ...


def _metric(value) -> Metric:
    try:
        return Metric(value)
    except ValueError:
        raise ParameterError(
            f"unknown metric {value!r}; choose one of {[m.value for m in Metric]}"
        ) from None


@dataclass(frozen=True)
class MaxIterations:
    """Stop once ``iterations`` epochs are complete (counting those of earlier runs of the
    session); the session's own ``iterations`` limit always applies as well."""

    iterations: int
    name = "maxIterations"
    metrics_needed = ()

    def __post_init__(self):
        if not isinstance(self.iterations, int) or self.iterations < 1:
            raise ParameterError(f"MaxIterations needs a positive integer; got {self.iterations!r}")

    def initial_state(self) -> dict[str, Any]:
        return {}

    def observe(self, state, progress):
        return state, progress.item_count >= self.iterations


def _target_metric(criterion, goal: str) -> Metric:
    """Check a target criterion's metric and value; returns the metric."""
    metric = _metric(criterion.metric)
    if GOALS[metric] != goal:
        fitting = [m.value for m, g in GOALS.items() if g == goal]
        raise ParameterError(
            f"{type(criterion).__name__} cannot watch {metric.value!r}; choose one of {fitting}"
        )
    if not math.isfinite(criterion.target):
        raise ParameterError(
            f"{type(criterion).__name__} needs a finite target; got {criterion.target}"
        )
    return metric


@dataclass(frozen=True)
class TargetAccuracy:
    """Stop when the validation accuracy (``metric``) is at least ``target``, a fraction in
    [0, 1]."""

    target: float
    metric: Metric = Metric.VALIDATION_ACCURACY
    name = "targetAccuracy"

    def __post_init__(self):
        object.__setattr__(self, "metric", _target_metric(self, "max"))
        if not 0.0 <= self.target <= 1.0:
            raise ParameterError(f"TargetAccuracy takes a fraction in [0, 1]; got {self.target}")

    @property
    def metrics_needed(self) -> tuple[Metric, ...]:
        return (self.metric,)

    def initial_state(self) -> dict[str, Any]:
        return {}

    def observe(self, state, progress):
        return state, progress.metrics[self.metric] >= self.target


@dataclass(frozen=True)
class TargetLoss:
    """Stop when the validation loss (``metric``; ``Metric.LOSS`` watches the training loss)
    is at most ``target``."""

    target: float
    metric: Metric = Metric.VALIDATION_LOSS
    name = "targetLoss"

    def __post_init__(self):
        object.__setattr__(self, "metric", _target_metric(self, "min"))

    @property
    def metrics_needed(self) -> tuple[Metric, ...]:
        return (self.metric,)

    def initial_state(self) -> dict[str, Any]:
        return {}

    def observe(self, state, progress):
        return state, progress.metrics[self.metric] <= self.target


@dataclass(frozen=True)
class TimeBudget:
    """Stop at the first iteration end after ``seconds`` of wall-clock time in this job (a
    resumed job starts a new budget). Checked at iteration ends only, so the job overruns by
    at most one epoch and its result is always a whole number of epochs."""

    seconds: float
    name = "timeBudget"
    metrics_needed = ()

    def __post_init__(self):
        if not self.seconds > 0:
            raise ParameterError(
                f"TimeBudget needs a positive number of seconds; got {self.seconds}"
            )

    def initial_state(self) -> dict[str, Any]:
        return {}

    def observe(self, state, progress):
        return state, progress.elapsed_time >= self.seconds


@dataclass(frozen=True)
class EarlyStopping:
    """Stop when ``metric`` has not improved by more than ``min_delta`` for ``patience``
    iterations (Create ML Components' ``earlyStopIterationCount`` and
    ``earlyStoppingTolerance``).

    An iteration improves when ``value < best - min_delta`` (losses) or
    ``value > best + min_delta`` (accuracies); ``best`` is the best value so far. With
    ``restore_best`` the job's result carries the weights of the best iteration (and a
    checkpoint of it, when the session has a directory), not those of the last one.
    """

    patience: int = 10
    min_delta: float = 0.0
    metric: Metric = Metric.VALIDATION_LOSS
    restore_best: bool = True
    name = "earlyStopping"

    def __post_init__(self):
        object.__setattr__(self, "metric", _metric(self.metric))
        if not isinstance(self.patience, int) or self.patience < 1:
            raise ParameterError(
                f"EarlyStopping patience must be a positive integer; got {self.patience!r}"
            )
        if not self.min_delta >= 0:
            raise ParameterError(f"EarlyStopping min_delta must be >= 0; got {self.min_delta}")

    @property
    def metrics_needed(self) -> tuple[Metric, ...]:
        return (self.metric,)

    def initial_state(self) -> dict[str, Any]:
        return {"best": None, "best_iteration": None, "waited": 0}

    def observe(self, state, progress):
        value = float(progress.metrics[self.metric])
        best = state["best"]
        if GOALS[self.metric] == "min":
            improved = best is None or value < best - self.min_delta
        else:
            improved = best is None or value > best + self.min_delta
        if improved:
            state = {"best": value, "best_iteration": progress.item_count, "waited": 0}
        else:
            state = {**state, "waited": state["waited"] + 1}
        return state, state["waited"] >= self.patience

    @staticmethod
    def best_iteration(state: dict[str, Any]) -> int | None:
        return state["best_iteration"]


@dataclass(frozen=True)
class Predicate:
    """Stop when ``function(progress)`` returns true; ``progress`` is the iteration's
    :class:`~runtime.jobs.progress.Progress` (``.metrics``, ``.item_count``, ``.elapsed_time``)."""

    function: Callable[[Progress], bool]
    name: str = "predicate"
    metrics_needed = ()

    def __post_init__(self):
        if not callable(self.function):
            raise ParameterError(f"Predicate needs a callable; got {self.function!r}")

    def initial_state(self) -> dict[str, Any]:
        return {}

    def observe(self, state, progress):
        return state, bool(self.function(progress))


def criterion_key(criterion) -> str:
    """A stable identity for restoring a criterion's state from a checkpoint."""
    if isinstance(criterion, Predicate):
        return f"Predicate({criterion.name})"
    return repr(criterion)


def as_criteria(stop_when: Iterable | None) -> tuple:
    """Normalise ``stop_when``: criteria stay, plain callables become :class:`Predicate`."""
    criteria = []
    for item in stop_when or ():
        if hasattr(item, "observe") and hasattr(item, "initial_state"):
            criteria.append(item)
        elif callable(item):
            criteria.append(Predicate(item, getattr(item, "__name__", "predicate")))
        else:
            raise ParameterError(
                f"stop_when entries must be stopping criteria (MaxIterations, TargetAccuracy, "
                f"TargetLoss, TimeBudget, EarlyStopping, Predicate) or callables; got {item!r}"
            )
    return tuple(criteria)


def check_available(criteria: tuple, reported: Iterable[Metric], why_missing: str) -> None:
    """Refuse criteria on metrics the job will never report."""
    reported = set(reported)
    for criterion in criteria:
        missing = [m for m in criterion.metrics_needed if m not in reported]
        if missing:
            raise ParameterError(
                f"stopping criterion {criterion!r} needs the metric {missing[0].value!r}, which "
                f"this job does not report ({why_missing}); it reports "
                f"{sorted(m.value for m in reported)}"
            )
