"""Runtime, jobs layer: Create ML style training sessions: ``train``, ``restore_training_session``,
``resume``.

The Create ML API (docs/update-task-semantics.md §12) applied to an updatable neural network, or a
pipeline ending in one:

* :class:`TrainingSessionParameters` (``MLTrainingSessionParameters``): an iteration is an
  epoch; ``iterations`` is the maximum, also for a resumed session (raise it to train
  longer); a progress report every ``report_interval`` and a checkpoint every
  ``checkpoint_interval`` iterations, persisted in ``session_directory``.
* :func:`train` returns a running :class:`~runtime.jobs.job.Job` (``MLJob``). The model's own
  ``epochs`` parameter does not apply: a session runs until ``iterations`` or a stopping
  criterion (:mod:`runtime.jobs.stopping`).
* :func:`restore_training_session` reads a session directory back into a
  :class:`TrainingSession` (``MLTrainingSession``); :func:`resume` continues it, bitwise as
  if it had never stopped; :func:`model_from_checkpoint` writes the model of any checkpoint
  (``init(checkpoint:)``).

A session directory holds ``session.json`` (what the session trains), ``model.mlmodel`` (the
model it started from), ``checkpoints/`` (:mod:`runtime.jobs.checkpoints`) and, when persisted,
``features/`` (:mod:`runtime.jobs.feature_cache`). Resuming with another model or other data is
refused: ``session.json`` records the model's digest and, for each data set, its size and
digests of the targets and inputs of a few examples spread over it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from runtime.jobs import checkpoints as store
from runtime.jobs.checkpoints import Checkpoint, CheckpointError
from runtime.jobs.feature_cache import FeatureCacheSettings
from runtime.jobs.fingerprints import check_data, data_fingerprint, model_digest
from runtime.jobs.job import Job
from runtime.jobs.progress import Phase
from runtime.jobs.session_lock import clean_if_free, locked_for_start
from runtime.jobs.setup import open_job_update, prepare_run
from runtime.jobs.snapshots import from_checkpoint
from runtime.training.writeback import spec_with_weights
from updatable import proto
from updatable import spec as spec_io
from updatable.errors import ParameterError, SessionMismatchError

FORMAT = "coreml-updatable/training-session/1"
SESSION_FILE = "session.json"
MODEL_FILE = "model.mlmodel"
VERIFY_MODES = ("content", "labels", "count")


@dataclass(frozen=True)
class TrainingSessionParameters:
    """``MLTrainingSessionParameters``; values are checked on construction."""

    session_directory: str | Path | None = None
    report_interval: int = 5
    checkpoint_interval: int = 10
    iterations: int = 1000

    def __post_init__(self):
        for name in ("report_interval", "checkpoint_interval", "iterations"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ParameterError(
                    f"TrainingSessionParameters.{name} must be a positive integer; got {value!r}"
                )
        if self.session_directory is not None:
            object.__setattr__(self, "session_directory", Path(self.session_directory))

    @property
    def directory(self) -> Path | None:
        """``session_directory`` as a ``Path`` (``__post_init__`` made it one)."""
        return None if self.session_directory is None else Path(self.session_directory)


@dataclass
class TrainingSession:
    """``MLTrainingSession``: a session directory's state.

    ``checkpoints`` are the readable checkpoints by iteration; ``problems`` describes damaged
    ones (skipped); ``iteration``, ``phase`` and ``date`` are those of the latest checkpoint
    (``0``, ``initialized`` and the creation date before the first).
    """

    parameters: TrainingSessionParameters
    record: dict
    checkpoints: list[Checkpoint] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def directory(self) -> Path:
        directory = self.parameters.directory
        assert directory is not None, "a restored session has a directory"
        return directory

    @property
    def iteration(self) -> int:
        return self.checkpoints[-1].iteration if self.checkpoints else 0

    @property
    def phase(self) -> Phase:
        return Phase(self.checkpoints[-1].phase) if self.checkpoints else Phase.INITIALIZED

    @property
    def date(self) -> datetime:
        if self.checkpoints:
            return self.checkpoints[-1].date
        return datetime.fromisoformat(self.record["created"])

    def remove_checkpoints(self, predicate: Callable[[Checkpoint], bool]) -> None:
        """Delete every checkpoint for which ``predicate(checkpoint)`` is true
        (``removeCheckpoints(_:)``)."""
        for checkpoint in [c for c in self.checkpoints if predicate(c)]:
            store.remove_checkpoint(checkpoint)
        self.refresh()

    def refresh(self) -> None:
        self.checkpoints, self.problems = store.list_checkpoints(self.directory)


def train(
    model,
    training_data,
    validation_data=None,
    configuration=None,
    session_parameters: TrainingSessionParameters | None = None,
    stop_when: Iterable = (),
    *,
    feature_cache: bool | FeatureCacheSettings = True,
    reuse_extracted_features: TrainingSession | str | Path | None = None,
    on_progress=None,
    on_checkpoint=None,
    on_phase=None,
) -> Job:
    """Start a training job on an updatable neural network (``MLImageClassifier.train``).

    Args:
        model: path, ``Model`` protobuf or coremltools ``MLModel`` of an updatable neural
            network or a pipeline ending in one (k-nearest-neighbour models are refused: their
            update is one pass).
        training_data, validation_data: batch providers (``count``, ``features(i)``).
        configuration: a ``ModelConfiguration``; its overrides are checked against the
            model's allowed values, as an update task's are.
        session_parameters: :class:`TrainingSessionParameters`; default: no directory.
        stop_when: stopping criteria (:mod:`runtime.jobs.stopping`) or callables on the progress.
        feature_cache: ``True``, ``False`` or :class:`FeatureCacheSettings`.
        reuse_extracted_features: a session (or its directory) whose persisted features this
            job may read (``reuseExtractedFeatures(from:)``).
        on_progress, on_checkpoint, on_phase: callbacks (see :mod:`runtime.jobs.job`).

    Raises (before anything runs): ``ValidationError`` / ``UnsupportedModelError`` for a
    model that cannot train, ``ParameterError`` for bad overrides or criteria,
    ``SessionMismatchError`` for a directory that already holds a session.
    """
    from runtime.model.configuration import ModelConfiguration

    params = session_parameters or TrainingSessionParameters()
    configuration = configuration or ModelConfiguration()
    settings = _cache_settings(feature_cache, params)
    directory = params.directory
    with locked_for_start(directory) as lock:
        if directory is not None and (directory / SESSION_FILE).exists():
            found, _ = store.list_checkpoints(directory)
            raise SessionMismatchError(
                f"{directory} already holds a training session ({len(found)} checkpoints); "
                "continue it with resume(restore_training_session(parameters), ...) or choose an "
                "empty directory"
            )
        update = open_job_update(model, training_data, configuration)
        if directory is not None and any(k.scope for k in configuration.normalized_parameters()):
            raise ParameterError(
                "scoped parameters (initial weights) cannot be recorded in a session directory; "
                "write the initial weights into the model before training a session"
            )
        reuse = _features_dirs(reuse_extracted_features)
        runner, validation = prepare_run(
            update, validation_data, params, stop_when, settings, reuse
        )
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            spec_io.save(update.spec, directory / MODEL_FILE)
            record = {
                "format": FORMAT,
                "created": datetime.now(UTC).isoformat(),
                "model_digest": model_digest(update.spec),
                "model_directory": None if update.path is None else str(update.path.parent),
                "hyperparameters": update.values,
                "train_with_ml_compute": bool(configuration.train_with_ml_compute),
                "training_data": data_fingerprint(update.source),
                "validation_data": None if validation is None else data_fingerprint(validation),
            }
            spec_io.write_atomic(json.dumps(record, indent=1).encode(), directory / SESSION_FILE)
        return Job(
            runner,
            on_progress=on_progress,
            on_checkpoint=on_checkpoint,
            on_phase=on_phase,
            lock=lock,
        ).start()


def restore_training_session(session_parameters: TrainingSessionParameters) -> TrainingSession:
    """Read a session directory (``restoreTrainingSession(sessionParameters:)``).

    Interrupted checkpoint writes are cleaned up; damaged checkpoints are listed in
    ``problems`` and skipped, so the others stay usable.
    """
    directory = session_parameters.directory
    if directory is None:
        raise ParameterError("restoring a training session needs a session_directory")
    path = Path(directory) / SESSION_FILE
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(
            f"no training session in {directory}: {SESSION_FILE} not found; start one with "
            "runtime.train(..., session_parameters=TrainingSessionParameters(directory))"
        ) from None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is unreadable ({exc})") from None
    if record.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not a training session file (format "
            f"{record.get('format')!r}, expected {FORMAT!r})"
        )
    clean_if_free(Path(directory), store.clean_interrupted_writes)
    session = TrainingSession(session_parameters, record)
    session.refresh()
    return session


def resume(
    session: TrainingSession,
    training_data,
    validation_data=None,
    stop_when: Iterable = (),
    *,
    model=None,
    checkpoint: Checkpoint | None = None,
    feature_cache: bool | FeatureCacheSettings = True,
    verify_data: str = "content",
    on_progress=None,
    on_checkpoint=None,
    on_phase=None,
) -> Job:
    """Continue a session from its latest checkpoint (or ``checkpoint``) up to
    ``session.parameters.iterations`` (``resume(_:)``).

    ``training_data`` (and ``validation_data``) must be the data the session trained on:
    ``verify_data="content"`` compares their sizes and the digests of the targets and inputs
    of the sampled examples, ``"labels"`` only sizes and targets (for providers that augment
    on the fly), ``"count"`` only sizes. ``model``, if given, must be the session's model.
    The stopping criteria should be those of the first run: a criterion's state is restored
    from the checkpoint when the same criterion is given again.
    """
    from runtime.model.configuration import ModelConfiguration

    if verify_data not in VERIFY_MODES:
        raise ParameterError(f"verify_data must be one of {VERIFY_MODES}; got {verify_data!r}")
    with locked_for_start(session.directory) as lock:
        params, record, directory = session.parameters, session.record, session.directory
        settings = _cache_settings(feature_cache, params)
        spec = _session_model(session, model)
        configuration = ModelConfiguration(
            parameters=dict(record["hyperparameters"]),
            train_with_ml_compute=record["train_with_ml_compute"],
        )
        model_dir = record.get("model_directory")
        origin = Path(model_dir) / MODEL_FILE if model_dir else None
        update = open_job_update(spec, training_data, configuration, path=origin)
        check_data(record["training_data"], update.source, "training data", verify_data)
        start, best = _restart_point(session, checkpoint)
        reuse = (directory / "features",) if (directory / "features").is_dir() else ()
        runner, validation = prepare_run(
            update,
            validation_data,
            params,
            stop_when,
            settings,
            reuse,
            start=start,
            best=best,
            checkpointed={c.iteration for c in session.checkpoints},
        )
        if (record["validation_data"] is None) != (validation is None):
            raise SessionMismatchError(
                f"the session trained {'without' if record['validation_data'] is None else 'with'} "
                "validation data; resume it the same way"
            )
        if validation is not None:
            check_data(record["validation_data"], validation, "validation data", verify_data)
        return Job(
            runner,
            on_progress=on_progress,
            on_checkpoint=on_checkpoint,
            on_phase=on_phase,
            lock=lock,
        ).start()


def model_from_checkpoint(checkpoint: Checkpoint, path: str | Path | None = None):
    """The session's model with the weights of ``checkpoint`` (``init(checkpoint:)``), as a
    ``Model`` protobuf; also saved (atomically) to ``path`` when given.

    Only ``training`` checkpoints hold a model, as in Create ML.
    """
    if checkpoint.phase != Phase.TRAINING:
        raise CheckpointError(
            f"checkpoint at iteration {checkpoint.iteration} is in phase "
            f"'{checkpoint.phase}'; only '{Phase.TRAINING.value}' checkpoints hold a model"
        )
    directory = Path(checkpoint.url).parent.parent
    snapshot, _ = from_checkpoint(checkpoint)
    spec = spec_with_weights(spec_io.load(directory / MODEL_FILE), snapshot.weights)
    if path is not None:
        spec_io.save(spec, path)
    return spec


# -- helpers --------------------------------------------------------------------------------
def _session_model(session: TrainingSession, model) -> proto.Model:
    """The model the session started with, checked against its digest (and ``model``, the one
    the caller means to resume, when given)."""
    directory, record = session.directory, session.record
    spec = spec_io.load(directory / MODEL_FILE)
    if model_digest(spec) != record["model_digest"]:
        raise SessionMismatchError(
            f"{directory / MODEL_FILE} differs from the model the session started with; "
            "restore the session directory or start a new session"
        )
    if model is not None:
        given = spec_io.load(model)
        if model_digest(given) != record["model_digest"]:
            raise SessionMismatchError(
                f"the model given to resume() is not the model of the session in {directory}; "
                f"resume with its own model ({directory / MODEL_FILE}) or start a new session"
            )
    return spec


def _restart_point(session: TrainingSession, checkpoint: Checkpoint | None):
    """``(snapshot, best snapshot)`` of ``checkpoint`` or the latest one; ``(None, None)``
    before the first checkpoint."""
    session.refresh()
    if checkpoint is None and session.checkpoints:
        checkpoint = session.checkpoints[-1]
    if checkpoint is None:
        return None, None
    return from_checkpoint(checkpoint)


def _cache_settings(feature_cache, params) -> FeatureCacheSettings:
    if isinstance(feature_cache, bool):
        settings = FeatureCacheSettings(enabled=feature_cache)
    elif isinstance(feature_cache, FeatureCacheSettings):
        settings = feature_cache
    else:
        raise ParameterError(
            f"feature_cache must be True, False or a FeatureCacheSettings; got {feature_cache!r}"
        )
    if settings.persist and params.session_directory is None:
        raise ParameterError(
            "FeatureCacheSettings(persist=True) needs a session_directory to persist into"
        )
    return settings


def _features_dirs(reuse) -> tuple[Path, ...]:
    if reuse is None:
        return ()
    directory = reuse.directory if isinstance(reuse, TrainingSession) else Path(reuse)
    return (Path(directory) / "features",)
