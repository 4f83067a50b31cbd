"""Runtime, facade: run Core ML models and their update tasks on the CPU (the execution side).

Public names are imported lazily from the modules listed below, so ``import runtime`` does
not load numba until a model is compiled.
"""

from __future__ import annotations

from updatable import __version__ as __version__  # one version for the whole distribution
from updatable.lazy import lazy_exports

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "Model": "runtime.model.mlmodel",
    "ImageValue": "runtime.model.images",
    "CropAndScale": "runtime.model.images",
    "UpdateTask": "runtime.training.task",
    "UpdateProgressHandlers": "runtime.training.task",
    "UpdateContext": "runtime.training.task",
    "Event": "runtime.training.events",
    "MetricKey": "runtime.training.events",
    "TaskState": "runtime.training.task",
    "ModelConfiguration": "runtime.model.configuration",
    "ParameterKey": "runtime.model.configuration",
    "BatchProvider": "runtime.training.providers",
    "ArrayBatchProvider": "runtime.training.providers",
    "load_digits": "runtime.tools.datasets",
    "repair": "runtime.tools.equivalence",
    "train": "runtime.jobs.session",
    "resume": "runtime.jobs.session",
    "restore_training_session": "runtime.jobs.session",
    "model_from_checkpoint": "runtime.jobs.session",
    "TrainingSessionParameters": "runtime.jobs.session",
    "TrainingSession": "runtime.jobs.session",
    "Job": "runtime.jobs.job",
    "JobResult": "runtime.jobs.job",
    "Checkpoint": "runtime.jobs.checkpoints",
    "Phase": "runtime.jobs.progress",
    "Progress": "runtime.jobs.progress",
    "ProgressMetric": "runtime.jobs.progress",
    "FeatureCacheSettings": "runtime.jobs.feature_cache",
    "MaxIterations": "runtime.jobs.stopping",
    "TargetAccuracy": "runtime.jobs.stopping",
    "TargetLoss": "runtime.jobs.stopping",
    "TimeBudget": "runtime.jobs.stopping",
    "EarlyStopping": "runtime.jobs.stopping",
    "Predicate": "runtime.jobs.stopping",
    "sweep": "runtime.sweeps",
    "register_custom_layer": "runtime.nn.layers.custom",
    "unregister_custom_layer": "runtime.nn.layers.custom",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
