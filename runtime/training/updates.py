"""Runtime, training layer: what an ``UpdateTask`` runs for a model.

:func:`open_update` opens the model (:mod:`~runtime.training.updatable_model`) and prepares
the update its trained model calls for: a
:class:`~runtime.training.network_update.NeuralNetworkUpdate` for a neural network, a
:class:`~runtime.training.knn_update.KnnUpdate` for a kNN classifier, each alone or as the
last model of a pipeline.
"""

from __future__ import annotations

from runtime.model.configuration import ModelConfiguration
from runtime.training.events import Event
from runtime.training.knn_update import KnnUpdate
from runtime.training.network_update import NeuralNetworkUpdate
from runtime.training.updatable_model import load_for_update
from updatable.errors import UnsupportedModelError
from updatable.spec import NEURAL_NETWORK_TYPES


def open_update(
    model, training_data, configuration: ModelConfiguration, events: Event, backend: str
) -> NeuralNetworkUpdate | KnnUpdate:
    """What an ``UpdateTask`` on ``model`` runs, prepared: hyperparameters resolved against the
    configuration's overrides (an invalid value raises here, as Core ML's initializer throws),
    network compiled, backend chosen. ``events`` are the subscribed progress events."""
    opened = load_for_update(model)
    if opened.kind == "kNearestNeighborsClassifier":
        return KnnUpdate(opened, training_data, configuration)
    if opened.kind in NEURAL_NETWORK_TYPES:
        return NeuralNetworkUpdate(opened, training_data, configuration, events, backend)
    raise UnsupportedModelError(f"cannot update a model of type '{opened.kind}'")
