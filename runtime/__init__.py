"""coreml-updatable, execution side: run Core ML models and their update tasks on the CPU.

Public names are imported lazily from the modules listed below, so ``import runtime`` does
not load numba until a model is compiled.
"""

from __future__ import annotations

import importlib

from updatable import __version__ as __version__  # one version for the whole distribution

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "Model": "runtime.model",
    "ImageValue": "runtime.images",
    "CropAndScale": "runtime.images",
    "UpdateTask": "runtime.task",
    "UpdateProgressHandlers": "runtime.task",
    "UpdateContext": "runtime.task",
    "Event": "runtime.task",
    "MetricKey": "runtime.task",
    "TaskState": "runtime.task",
    "ModelConfiguration": "runtime.parameters",
    "ParameterKey": "runtime.parameters",
    "BatchProvider": "runtime.data",
    "ArrayBatchProvider": "runtime.data",
    "load_digits": "runtime.datasets",
    "train": "runtime.session",
    "resume": "runtime.session",
    "restore_training_session": "runtime.session",
    "model_from_checkpoint": "runtime.session",
    "TrainingSessionParameters": "runtime.session",
    "TrainingSession": "runtime.session",
    "Job": "runtime.jobs",
    "JobResult": "runtime.jobs",
    "Checkpoint": "runtime.checkpoints",
    "Phase": "runtime.progress",
    "Progress": "runtime.progress",
    "ProgressMetric": "runtime.progress",
    "FeatureCacheSettings": "runtime.feature_cache",
    "MaxIterations": "runtime.stopping",
    "TargetAccuracy": "runtime.stopping",
    "TargetLoss": "runtime.stopping",
    "TimeBudget": "runtime.stopping",
    "EarlyStopping": "runtime.stopping",
    "Predicate": "runtime.stopping",
    "sweep": "runtime.sweeps",
}

__all__ = sorted(_EXPORTS)



def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'runtime' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
