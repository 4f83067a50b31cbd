"""Runtime, jobs layer: the training run behind a :class:`~runtime.jobs.job.Job`: iterations,
metrics, checkpoints.

Each iteration is one call of the shared epoch loop, :func:`runtime.training.loop.run_epoch`, with
Core ML's batching and shuffle order; the job reshuffles after every epoch, as an update
task subscribed to ``epochEnd`` does (docs/update-task-semantics.md §6). After each epoch:

1. metrics: ``loss`` (mean mini-batch loss of the epoch) and, with validation data,
   ``validationLoss`` and ``validationAccuracy`` (cross-entropy only), evaluated through the
   same cached frozen part;
2. the stopping criteria observe the iteration's :class:`~runtime.jobs.progress.Progress`;
3. an in-memory :class:`~runtime.jobs.snapshots.Snapshot` is taken;
4. a progress report every ``report_interval`` iterations, a checkpoint every
   ``checkpoint_interval`` iterations;
5. stop if a criterion fired or ``iterations`` is reached.

When the job ends for any reason (limit, criterion, cancel, failure) the last snapshot is
also written as a checkpoint if it is not one yet, so the session resumes where the job
stopped. Phases: ``initialized``, then ``extractingFeatures`` while the run's first epoch
computes frozen features (progress counts the examples extracted), then ``training``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from runtime.jobs.checkpoints import list_checkpoints, write_checkpoint
from runtime.jobs.feature_cache import FeatureCache, FeatureCacheSettings, FrozenFeatures
from runtime.jobs.feature_keys import KeyedSource
from runtime.jobs.job import JobResult
from runtime.jobs.progress import Metric, Phase, Progress
from runtime.jobs.snapshots import Snapshot, checkpoint_payload
from runtime.jobs.stopping import EarlyStopping, criterion_key
from runtime.model.mlmodel import Model
from runtime.training import interrupt
from runtime.training.divergence import loss_growth
from runtime.training.loop import Hooks, LoopState, StopTraining, run_epoch
from runtime.training.writeback import spec_with_weights

CROSS_ENTROPY = "categoricalCrossEntropyLossLayer"


def reported_metrics(update, has_validation: bool) -> tuple[Metric, ...]:
    """The metrics a job on ``update`` reports each iteration."""
    metrics = [Metric.LOSS, Metric.LOSS_GROWTH]
    if has_validation:
        metrics.append(Metric.VALIDATION_LOSS)
        if update.cut.loss_kind == CROSS_ENTROPY:
            metrics.append(Metric.VALIDATION_ACCURACY)
    return tuple(metrics)


@dataclass
class RunPlan:
    """Everything a run needs, prepared by ``runtime.jobs.session``."""

    update: Any  # a NeuralNetworkUpdate (hyperparameters, source, backend)
    validation: Any  # a TrainingSource over the validation provider, or None
    session_directory: Path | None
    report_interval: int
    checkpoint_interval: int
    iterations: int
    criteria: tuple
    cache_settings: FeatureCacheSettings
    cache: FeatureCache | None
    start: Snapshot | None = None  # the restored checkpoint, when resuming
    best: Snapshot | None = None  # its best snapshot (early stopping)
    checkpointed: frozenset[int] = frozenset()  # iterations that already have a checkpoint


class _Hooks(Hooks):
    def __init__(self, runner: JobRunner):
        super().__init__(runner.update.learning_rate)
        self.runner = runner

    def check_stop(self) -> None:
        if self.runner.job.is_cancelled:
            raise StopTraining

    def mini_batch_end(self, batch_index: int, loss: float) -> None:
        self.runner.after_batch(loss)


class JobRunner:
    def __init__(self, plan: RunPlan):
        self.plan = plan
        self.update = plan.update
        self.backend = plan.update.backend
        self.job: Any = None  # the Job being run, set by run()
        self.frozen = None
        if self.backend.cut.frozen_steps or self.update.positions:
            self.frozen = FrozenFeatures(
                self.backend.compute_boundary,
                plan.cache,
                plan.cache_settings.per_example,
                self._on_extract,
            )
            self.backend.boundary_source = self.frozen
        # with a cache, examples are keyed by the provider's values and converted only on a miss
        keyed = plan.cache is not None and self.frozen is not None
        self.source = KeyedSource(self.update.source) if keyed else self.update.source
        self.validation = plan.validation
        if keyed and plan.validation is not None:
            self.validation = KeyedSource(plan.validation)
        self.criteria_states = {criterion_key(c): c.initial_state() for c in plan.criteria}
        self.best = plan.best
        self.checkpointed = set(plan.checkpointed)
        self.batch_losses: list[float] = []
        self.first_loss: float | None = None  # this run's first epoch loss (lossGrowth)
        self.extracted = 0
        self.first_epoch = True
        self.evaluating = False
        self.started = 0.0

    # -- the run ----------------------------------------------------------------------------
    def run(self, job) -> JobResult:
        self.job = job
        self.started = time.monotonic()
        plan, update = self.plan, self.update
        job.emit_phase(Phase.INITIALIZED)
        state, snapshot = self._start()
        hooks = _Hooks(self)
        fired = None
        try:
            with interrupt.polling(hooks.check_stop):  # validation passes poll too
                while state.epoch < plan.iterations:
                    hooks.check_stop()
                    self.batch_losses = []
                    run_epoch(
                        self.backend,
                        self.source,
                        update.settings,
                        hooks,
                        state,
                        update.check_weights,
                    )
                    progress = self._progress(state.epoch)
                    if self.first_epoch:
                        self.first_epoch = False
                        if job.phase is not Phase.TRAINING:
                            job.emit_phase(Phase.TRAINING)
                    fired = self._observe(progress)
                    snapshot = Snapshot.take(
                        self.backend,
                        state,
                        progress.metrics,
                        dict(self.criteria_states),
                        self.first_loss,
                    )
                    self._keep_best(snapshot)
                    if state.epoch % plan.report_interval == 0:
                        job.emit_progress(progress)
                    if state.epoch % plan.checkpoint_interval == 0:
                        self._checkpoint(snapshot)
                    if fired is not None:
                        break
            stopped_by = "iterations" if fired is None else fired.name
        except StopTraining:
            stopped_by = "cancelled"
            snapshot.restore(self.backend)  # drop the unfinished epoch
        except BaseException:
            snapshot.restore(self.backend)
            self._checkpoint(snapshot)  # keep the completed epochs' work
            raise
        finally:
            # the cache refers to the backend and the backend to the cache: unlink them so
            # the network is freed as soon as the job is dropped, not at the next cyclic GC
            self.backend.boundary_source = None
        return self._finish(snapshot, stopped_by, fired)

    def _start(self) -> tuple[LoopState, Snapshot]:
        """The loop state and snapshot the run starts from: a resumed checkpoint's, or fresh."""
        start = self.plan.start
        if start is None:
            state = LoopState.start(self.update.source.count, self.update.settings)
            return state, Snapshot.take(self.backend, state, {}, dict(self.criteria_states))
        state = start.restore(self.backend)
        criteria = start.loop["criteria"]
        self.criteria_states.update(
            {k: v for k, v in criteria.items() if k in self.criteria_states}
        )
        self.first_loss = start.loop.get("first_loss")
        return state, start

    def _finish(self, snapshot: Snapshot, stopped_by: str, fired) -> JobResult:
        chosen = snapshot
        best_iteration = None
        if isinstance(fired, EarlyStopping):
            best_iteration = EarlyStopping.best_iteration(
                self.criteria_states[criterion_key(fired)]
            )
            if fired.restore_best and self.best is not None:
                chosen = self.best
                self._checkpoint(chosen)
        self._checkpoint(snapshot)
        checkpoint = next(
            (c for c in self.job.checkpoints if c.iteration == chosen.iteration), None
        )
        if checkpoint is None and self.plan.session_directory is not None:
            found, _ = list_checkpoints(self.plan.session_directory)
            checkpoint = next((c for c in found if c.iteration == chosen.iteration), None)
        spec = spec_with_weights(self.update.spec, chosen.weights)
        return JobResult(
            spec=spec,
            iteration=snapshot.iteration,
            stopped_by=stopped_by,
            metrics={Metric(k): v for k, v in chosen.metrics.items()},
            criterion=fired,
            best_iteration=best_iteration,
            checkpoint=checkpoint,
            cache=None if self.plan.cache is None else self.plan.cache.stats,
            per_example_features=None if self.frozen is None else self.frozen.per_example,
            model_factory=_model_factory(self.update),
        )

    # -- per iteration ----------------------------------------------------------------------
    def _progress(self, iteration: int) -> Progress:
        loss = float(np.mean(self.batch_losses))
        if self.first_loss is None:
            self.first_loss = loss
        metrics = {Metric.LOSS: loss}
        growth = loss_growth(self.first_loss, loss)
        if growth is not None:
            metrics[Metric.LOSS_GROWTH] = growth
        if self.plan.validation is not None:
            metrics.update(self._evaluate())
        return Progress(
            Phase.TRAINING,
            iteration,
            self.plan.iterations,
            time.monotonic() - self.started,
            metrics,
        )

    def _evaluate(self) -> dict[Metric, float]:
        """Mean loss and accuracy over the validation examples, in provider order, in chunks
        of the mini-batch size (no padding: every example counts once)."""
        source = self.validation
        size = self.update.settings.batch_size
        total, correct = 0.0, 0
        self.evaluating = True
        try:
            for start in range(0, source.count, size):
                batch = source.fetch(list(range(start, min(start + size, source.count))))
                with np.errstate(all="ignore"):  # a diverged model's overflow shows as inf
                    loss, rows = self.backend.evaluate(batch)
                total += loss * len(batch.indices)
                if self.backend.cut.loss_kind == CROSS_ENTROPY:
                    correct += int(np.sum(rows.argmax(axis=1) == batch.target))
        finally:
            self.evaluating = False
        metrics = {Metric.VALIDATION_LOSS: total / source.count}
        if self.backend.cut.loss_kind == CROSS_ENTROPY:
            metrics[Metric.VALIDATION_ACCURACY] = correct / source.count
        return metrics

    def _observe(self, progress: Progress):
        fired = None
        for criterion in self.plan.criteria:
            key = criterion_key(criterion)
            self.criteria_states[key], stop = criterion.observe(self.criteria_states[key], progress)
            if stop and fired is None:
                fired = criterion  # every criterion still observes, to keep its state exact
        return fired

    def _keep_best(self, snapshot: Snapshot) -> None:
        for criterion in self.plan.criteria:
            if isinstance(criterion, EarlyStopping) and criterion.restore_best:
                state = self.criteria_states[criterion_key(criterion)]
                if EarlyStopping.best_iteration(state) == snapshot.iteration:
                    self.best = snapshot
                return  # the first restoring criterion owns the best snapshot

    def _checkpoint(self, snapshot: Snapshot) -> None:
        directory = self.plan.session_directory
        if directory is None or snapshot.iteration in self.checkpointed or not snapshot.weights:
            return
        if snapshot.iteration == 0:
            return  # nothing trained yet
        arrays, loop = checkpoint_payload(snapshot, self.best)
        checkpoint = write_checkpoint(
            directory, snapshot.iteration, Phase.TRAINING.value, snapshot.metrics, arrays, loop
        )
        self.checkpointed.add(snapshot.iteration)
        self.job.emit_checkpoint(checkpoint)

    # -- feature extraction progress --------------------------------------------------------
    def _on_extract(self, count: int) -> None:
        if self.evaluating or not self.first_epoch or self.plan.cache is None:
            return
        if self.job.phase is Phase.INITIALIZED:
            self.job.emit_phase(Phase.EXTRACTING_FEATURES)
        self.extracted += count

    def after_batch(self, loss: float) -> None:
        self.batch_losses.append(loss)
        if self.job.phase is Phase.INITIALIZED:
            self.job.emit_phase(Phase.TRAINING)
        elif self.job.phase is Phase.EXTRACTING_FEATURES:
            self.job.emit_progress(
                Progress(
                    Phase.EXTRACTING_FEATURES,
                    self.extracted,
                    self.update.source.count,
                    time.monotonic() - self.started,
                )
            )


def _model_factory(update):
    configuration, path = update.configuration, update.path

    def factory(spec):
        return Model.compile(spec, configuration, path=path)

    return factory
