"""Runtime, training layer: opening a model for an update, and choosing what the update runs.

:func:`load_for_update` gives the private, validated copy of an updatable model that every
update starts from; :func:`open_update` picks what an ``UpdateTask`` runs for it: a
:class:`~runtime.training.network_update.NeuralNetworkUpdate` for a neural network, a
:class:`~runtime.training.knn_update.KnnUpdate` for a kNN classifier (alone or as the last
model of a pipeline: Core ML trains only that one).
"""

from __future__ import annotations

from pathlib import Path

import updatable
from runtime.model.configuration import ModelConfiguration
from runtime.training.events import Event
from runtime.training.knn_update import KnnUpdate
from runtime.training.network_update import NeuralNetworkUpdate
from updatable import proto
from updatable import spec as spec_io
from updatable.errors import UnsupportedModelError


def load_for_update(model) -> tuple[proto.Model, Path | None]:
    """The spec (a private copy) and its file path; validated with Core ML's rules.

    Raises:
        ModelFileError: the file cannot be read.
        ValidationError: Core ML would reject the model.
        UnsupportedModelError: the model is not marked updatable.
    """
    if isinstance(model, proto.Model):
        spec, path = proto.Model(), None
        spec.CopyFrom(model)
    else:
        path = Path(model)
        spec = spec_io.load(path)
    updatable.check(spec)
    if not spec.isUpdatable:
        raise UnsupportedModelError(
            f"{path or 'the model'} is not updatable (Model.isUpdatable is false); prepare it "
            "with `updatable make-updatable` or updatable.make_updatable()"
        )
    return spec, path


def open_update(
    model, training_data, configuration: ModelConfiguration, events: Event, backend: str
) -> NeuralNetworkUpdate | KnnUpdate:
    """What an ``UpdateTask`` on ``model`` runs, prepared: hyperparameters resolved against the
    configuration's overrides (an invalid value raises here, as Core ML's initializer throws),
    network compiled, backend chosen. ``events`` are the subscribed progress events."""
    spec, path = load_for_update(model)
    trained, positions = spec_io.trained_model(spec)
    kind = spec_io.model_type(trained)
    if kind == "kNearestNeighborsClassifier":
        return KnnUpdate(spec, path, positions, training_data, configuration)
    if kind in spec_io.NEURAL_NETWORK_TYPES:
        return NeuralNetworkUpdate(
            spec, path, positions, training_data, configuration, events, backend
        )
    raise UnsupportedModelError(f"cannot update a model of type '{kind}'")
