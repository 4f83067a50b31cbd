"""Spec side, facade: read, edit and check updatable Core ML models (coreml-updatable).

Public names are imported lazily (the table below), so ``import updatable`` is fast and a
command that only inspects a model never loads the surgery or validation modules.
"""

from __future__ import annotations

from updatable.lazy import lazy_exports

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
    "make_updatable": "updatable.edit.surgery",
    "updatable_layers": "updatable.edit.surgery",
    "repair": "updatable.edit.repair",
    "feature_extractor": "updatable.edit.cut",
    "Repair": "updatable.edit.repair",
    "training_blockers": "updatable.edit.trainable",
    "ArgumentNeededError": "updatable.errors",
    "set_loss": "updatable.edit.loss",
    "set_optimizer": "updatable.edit.training_config",
    "set_epochs": "updatable.edit.training_config",
    "set_shuffle": "updatable.edit.training_config",
    "expand_classifier": "updatable.edit.classifier",
    "reinitialize": "updatable.edit.classifier",
    "classifier_head": "updatable.edit.classifier",
    "make_knn_classifier": "updatable.edit.knn",
    "add_samples": "updatable.edit.knn",
    "set_number_of_neighbors": "updatable.edit.knn",
    "UnknownArgumentError": "updatable.errors",
    "make_pipeline": "updatable.edit.pipeline",
    "make_linked_model": "updatable.edit.pipeline",
    "validate": "updatable.validation.validator",
    "check": "updatable.validation.validator",
    "Issue": "updatable.validation.issues",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
