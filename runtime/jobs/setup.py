"""Runtime, jobs layer: building a training job: the model update, the validation source, the
cache, the criteria.

Shared by :func:`runtime.jobs.session.train` and :func:`runtime.jobs.session.resume`. Everything
here runs before the job starts, so every error is raised to the caller of ``train`` / ``resume``.
"""

from __future__ import annotations

from pathlib import Path

from runtime.jobs.feature_cache import FeatureCache, FeatureCacheSettings, frozen_fingerprint
from runtime.jobs.runner import JobRunner, RunPlan, reported_metrics
from runtime.jobs.stopping import as_criteria, check_available
from runtime.training import bounds
from runtime.training.events import Event
from runtime.training.examples import TrainingSource
from runtime.training.network_update import NeuralNetworkUpdate
from runtime.training.updatable_model import load_for_update
from updatable import spec as spec_io
from updatable.errors import ParameterError, UnsupportedModelError


def open_job_update(model, training_data, configuration, path: Path | None = None):
    """Load, validate and compile ``model`` for training; returns a ``NeuralNetworkUpdate``.

    The job reshuffles after every epoch, as an update task subscribed to ``epochEnd`` does,
    so the update is prepared with that event.
    """
    opened = load_for_update(model, path)
    kind = opened.kind
    if kind == "kNearestNeighborsClassifier":
        raise UnsupportedModelError(
            f"{opened.path or 'the model'} ends in a k-nearest-neighbors classifier: its update "
            "appends the examples in one pass, with no iterations, losses or checkpoints; "
            "update it with runtime.UpdateTask instead of a training job"
        )
    if kind not in spec_io.NEURAL_NETWORK_TYPES:
        raise UnsupportedModelError(
            f"training jobs train neural networks (or pipelines ending in one); the model's "
            f"trained part is a '{kind}'"
        )
    if training_data is None or training_data.count == 0:
        raise ParameterError("the training data is empty (the batch provider's count is 0)")
    return NeuralNetworkUpdate(opened, training_data, configuration, Event.EPOCH_END)


def validation_source(update, provider) -> TrainingSource | None:
    """A source reading validation examples exactly as the training source reads its own."""
    if provider is None:
        return None
    if provider.count == 0:
        raise ParameterError("the validation data is empty (the batch provider's count is 0)")
    source = update.source
    return TrainingSource(
        provider, source.inputs, source.target_names, source.labels, source.target_shape
    )


def feature_cache(
    update, settings: FeatureCacheSettings, directory: Path | None, reuse: tuple[Path, ...]
) -> FeatureCache | None:
    """The job's cache, or ``None`` when disabled or when nothing is frozen."""
    cut = update.backend.cut
    if not settings.enabled or not (cut.frozen_steps or update.positions):
        return None
    own = directory / "features" if settings.persist and directory is not None else None
    others = tuple(d for d in reuse if own is None or Path(d) != own)
    if own is None and directory is not None and (directory / "features").is_dir():
        others = (*others, directory / "features")
    # only features on disk need the frozen network's identity (it costs a full serialisation)
    fingerprint = frozen_fingerprint(update.spec, cut.boundary) if own or others else ""
    return FeatureCache(settings.memory_budget, fingerprint, own, tuple(dict.fromkeys(others)))


def prepare_run(
    update,
    validation_data,
    params,
    stop_when,
    settings,
    reuse,
    *,
    start=None,
    best=None,
    checkpointed=frozenset(),
):
    """The job's runner and its validation source."""
    bounds.check_update(
        update.network_engine.network,
        update.cut,
        update.settings,
        update.source.count,
        epochs=params.iterations,
    )
    validation = validation_source(update, validation_data)
    criteria = as_criteria(stop_when)
    check_available(
        criteria,
        reported_metrics(update, validation is not None),
        "validation metrics need validation_data; validation accuracy also needs "
        "a cross-entropy loss",
    )
    directory = params.session_directory
    cache = feature_cache(update, settings, directory, reuse)
    plan = RunPlan(
        update=update,
        validation=validation,
        session_directory=directory,
        report_interval=params.report_interval,
        checkpoint_interval=params.checkpoint_interval,
        iterations=params.iterations,
        criteria=criteria,
        cache_settings=settings,
        cache=cache,
        start=start,
        best=best,
        checkpointed=frozenset(checkpointed),
    )
    return JobRunner(plan), validation
