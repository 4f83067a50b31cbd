"""Runtime, jobs layer: what a training job reports: Create ML's ``MLPhase``, ``MLProgress`` and
its metric keys.

Vocabulary only (docs/update-task-semantics.md §12); :mod:`runtime.jobs.job` produces these
values and :mod:`runtime.jobs.stopping` reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Phase(StrEnum):
    """``MLPhase``; members compare equal to Create ML's names."""

    INITIALIZED = "initialized"
    EXTRACTING_FEATURES = "extractingFeatures"
    TRAINING = "training"
    EVALUATING = "evaluating"
    INFERENCING = "inferencing"


class Metric(StrEnum):
    """``MLProgress.Metric`` keys a job reports.

    ``loss`` is the mean of the epoch's mini-batch losses (a Core ML update task reports only
    the last mini-batch's loss; a job reports the whole epoch, as Create ML does).
    ``validationLoss`` is the mean loss over the validation examples and
    ``validationAccuracy`` the fraction whose highest-scoring class is the target
    (cross-entropy models only). Create ML names its validation metrics with the
    ``validation`` prefix (``validationMaximumError``); these two follow that pattern.
    ``lossGrowth`` (an extension) is ``loss`` divided by the run's first epoch's ``loss``:
    past ``DivergenceSettings.loss_growth`` the training is diverging
    (``runtime.training.divergence``).
    """

    LOSS = "loss"
    LOSS_GROWTH = "lossGrowth"
    ACCURACY = "accuracy"
    VALIDATION_LOSS = "validationLoss"
    VALIDATION_ACCURACY = "validationAccuracy"


ProgressMetric = Metric  # the public name (``runtime.ProgressMetric``), beside Core ML's MetricKey


@dataclass(frozen=True)
class Progress:
    """``MLProgress``: one report of a job.

    In the ``training`` phase ``item_count`` is the number of completed iterations (epochs)
    and ``total_item_count`` the session's maximum; in ``extractingFeatures`` they count the
    training examples whose frozen features were computed so far and the training set size.
    ``elapsed_time`` is in seconds since this job started.
    """

    phase: Phase
    item_count: int
    total_item_count: int | None
    elapsed_time: float
    metrics: dict[Metric, float] = field(default_factory=dict)
