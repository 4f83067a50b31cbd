"""coreml-updatable, spec side: read, edit and check updatable Core ML models.

Public names are imported lazily (the table below), so ``import updatable`` is fast and a
command that only inspects a model never loads the surgery or validation modules.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "load": "updatable.spec",
    "loads": "updatable.spec",
    "save": "updatable.spec",
    "UpdatableError": "updatable.errors",
    "ModelFileError": "updatable.errors",
    "LayerNotFoundError": "updatable.errors",
    "UnsupportedLayerError": "updatable.errors",
    "UnsupportedModelError": "updatable.errors",
    "ParameterError": "updatable.errors",
    "SurgeryError": "updatable.errors",
    "ValidationError": "updatable.errors",
    "ShapeError": "updatable.errors",
    "FeatureError": "updatable.errors",
    "IntParam": "updatable.params",
    "DoubleParam": "updatable.params",
    "make_updatable": "updatable.surgery",
    "set_loss": "updatable.loss",
    "set_optimizer": "updatable.training_config",
    "set_epochs": "updatable.training_config",
    "set_shuffle": "updatable.training_config",
    "expand_classifier": "updatable.classifier",
    "reinitialize": "updatable.classifier",
    "classifier_head": "updatable.classifier",
    "make_knn_classifier": "updatable.knn",
    "add_samples": "updatable.knn",
    "set_number_of_neighbors": "updatable.knn",
    "UnknownArgumentError": "updatable.errors",
    "make_pipeline": "updatable.pipeline",
    "make_linked_model": "updatable.pipeline",
    "validate": "updatable.validation",
    "check": "updatable.validation",
    "Issue": "updatable.validation",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'updatable' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
