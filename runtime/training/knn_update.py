"""Runtime, training layer: what an ``UpdateTask`` runs for a kNN classifier (alone or at the
end of a pipeline).

Core ML's kNN update (docs/update-task-semantics.md §9, [INFERRED]): ``trainingBegin`` with empty
metrics and parameters, then every example is read and checked, then all are appended (or
none, if any is bad), then the completion with empty metrics. There are no epochs, batches,
shuffle or losses; ``cancel`` and ``resume(parameters)`` have nothing to act on once the single
pass started. Each example must be a non-nil feature provider whose input is a 1-D
``MLMultiArray`` of exactly ``numberOfDimensions`` values and whose label is a String or an
Int64; the first bad example fails the task with one of Core ML's messages and nothing is
added. A ``[1, D]`` array where ``[D]`` is expected is the classic mistake (coremltools issue
#913), and is refused.

The three steps are separate so that the update can fail before touching the model:
``points, labels = collect_examples(provider, engine)``, then ``apply(engine, points,
labels)``, then ``write_samples(spec, engine)`` when the app writes the model. In a
feature-extractor + kNN pipeline the frozen models before the kNN run once per example, in
batches, to produce the embeddings that are appended.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from runtime.model import features
from runtime.model.configuration import ModelConfiguration, ParameterKey
from runtime.model.engines.knn.engine import KnnEngine, KnnTrainingInfo
from runtime.model.engines.pipeline import split_at
from runtime.model.mlmodel import Model
from runtime.training.events import Event
from runtime.training.updatable_model import UpdatableModel
from updatable import proto
from updatable.edit.nested import KNN_TYPES, locate
from updatable.errors import KnnUpdateError, ParameterError

_TYPE_NAMES = {str: "String", int: "Int64"}
EMBEDDING_BATCH = 64  # examples per frozen-stage call when a pipeline computes embeddings


class _Embedded:
    """A provider view whose examples carry the kNN input computed by the frozen stages."""

    def __init__(self, provider, inputs, run_frozen, input_name, label_names):
        self.provider, self.inputs, self.run_frozen = provider, inputs, run_frozen
        self.input_name, self.label_names = input_name, label_names
        self.count = int(provider.count)
        self._rows: list = []

    def prepare(self) -> None:
        examples = []
        for index in range(self.count):
            example = self.provider.features(index)
            if example is None:
                raise KnnUpdateError(f"Received nil MLFeatureProvider for index {index}", index)
            examples.append(example)
        for first in range(0, self.count, EMBEDDING_BATCH):
            chunk = examples[first : first + EMBEDDING_BATCH]
            try:
                batch = features.to_batch(self.inputs, chunk)
            except Exception as exc:
                raise KnnUpdateError(
                    f"examples {first}..{first + len(chunk) - 1}: {exc}", first
                ) from None
            embedded = self.run_frozen(batch)[self.input_name]
            for offset, example in enumerate(chunk):
                label = next((example[n] for n in self.label_names if n in example), None)
                self._rows.append(
                    {self.input_name: embedded[offset].reshape(-1), self.label_names[0]: label}
                )

    def features(self, index: int):
        return self._rows[index]


class KnnUpdate:
    """A kNN classifier (or pipeline ending in one) prepared for an update task."""

    def __init__(self, opened: UpdatableModel, provider, configuration: ModelConfiguration):
        spec, positions = opened.spec, opened.positions
        self.spec, self.path, self.positions = spec, opened.path, positions
        self.configuration = configuration
        self.model = Model.compile(spec, configuration, path=opened.path)
        self.engine, run_frozen = split_at(self.model.engine, positions)
        info = self.engine.training_info
        if positions:
            labels = [info.label_name, spec.description.predictedFeatureName]
            inputs = [f for f in spec.description.input if not f.type.isOptional]
            self.provider = _Embedded(provider, inputs, run_frozen, info.input_name, labels)
        else:
            self.provider = provider

    def run(self, task) -> None:
        task.notify(Event.TRAINING_BEGIN, {})
        task.check_stop()
        if isinstance(self.provider, _Embedded):
            self.provider.prepare()
        points, labels = collect_examples(self.provider, self.engine)
        apply(self.engine, points, labels)
        return None

    def set_parameters(self, parameters) -> None:
        del parameters  # nothing is adjustable during a kNN update

    def parameters_snapshot(self) -> dict:
        return {}

    def parameter_value(self, key: ParameterKey):
        if key == ParameterKey.NUMBER_OF_NEIGHBORS:
            return self.engine.k
        raise ParameterError(f"a kNN classifier has no readable parameter '{key}'")

    def updated_spec(self) -> proto.Model:
        return write_samples(self.spec, self.engine)

    def updated_model(self) -> Model:
        return Model.compile(self.updated_spec(), self.configuration, path=self.path)


def collect_examples(provider, engine_info: KnnEngine | KnnTrainingInfo) -> tuple[NDArray, list]:
    """Read and validate every example of ``provider``; nothing is appended here.

    Args:
        provider: a batch provider (``count`` and ``features(i) -> dict``).
        engine_info: the kNN engine, or its ``training_info``.

    Returns:
        ``(points, labels)``: a float32 ``(count, numberOfDimensions)`` array and the labels as
        Python ``str`` or ``int``.

    Raises:
        KnnUpdateError: the first bad example (``index`` names it), with Core ML's message:
            ``Received nil MLFeatureProvider for index <i>``,
            ``Missing MLMultiArrayValue for feature named <name>``,
            ``Shape of training data point <i> MLMultiArray is <shape>, expected [<D>]``, or
            ``Label type must be one of MLFeatureTypeString or MLFeatureTypeInt64``.
    """
    info = engine_info.training_info if isinstance(engine_info, KnnEngine) else engine_info
    count = provider.count
    points = np.empty((count, info.dimensions), np.float32)
    labels: list = []
    for i in range(count):
        features = provider.features(i)
        if features is None:
            raise KnnUpdateError(f"Received nil MLFeatureProvider for index {i}", i)
        if not isinstance(features, Mapping):
            raise KnnUpdateError(
                f"training example {i} is a {type(features).__name__}; a batch provider's "
                "features(i) returns a dict of feature name -> value",
                i,
            )
        array = _multiarray(features.get(info.input_name))
        if array is None:
            raise KnnUpdateError(
                f"Missing MLMultiArrayValue for feature named {info.input_name} (training "
                f"example {i}: {_describe(features, info.input_name)})",
                i,
            )
        if array.shape != (info.dimensions,):
            raise KnnUpdateError(
                f"Shape of training data point {i} MLMultiArray is {list(array.shape)}, "
                f"expected [{info.dimensions}]",
                i,
            )
        label = _label(features.get(info.label_name))
        if label is None:
            raise KnnUpdateError(
                "Label type must be one of MLFeatureTypeString or MLFeatureTypeInt64 "
                f"(training example {i}: {_describe(features, info.label_name)})",
                i,
            )
        if type(label) is not info.label_type:
            raise KnnUpdateError(
                f"Label of training data point {i} is {_TYPE_NAMES[type(label)]} {label!r}, "
                f"expected {_TYPE_NAMES[info.label_type]}: the model's class labels are "
                f"{_TYPE_NAMES[info.label_type]}",
                i,
            )
        points[i] = array
        labels.append(label)
    return points, labels


def apply(engine: KnnEngine, points: NDArray, labels: list) -> int:
    """Append every collected example after the existing samples; return how many."""
    engine.append(points, labels)
    return len(labels)


def write_samples(spec: proto.Model, engine: KnnEngine) -> proto.Model:
    """A copy of ``spec`` whose kNN holds every sample and label of ``engine``.

    ``spec`` is the kNN classifier itself or a pipeline ending in it (the feature-extractor +
    kNN pattern); it is not modified.
    """
    out = proto.Model()
    out.CopyFrom(spec)
    model, _ = locate(out, KNN_TYPES, "write_samples")
    knn = model.kNearestNeighborsClassifier
    index = knn.nearestNeighborsIndex
    store = engine.store
    if index.numberOfDimensions != store.dimensions:
        raise ValueError(
            f"the engine holds {store.dimensions}-d samples but the model's kNN has "
            f"numberOfDimensions {index.numberOfDimensions}"
        )
    del index.floatSamples[:]
    for row in store.points:
        index.floatSamples.add().vector.extend(row.tolist())
    field = "int64ClassLabels" if store.label_type is int else "stringClassLabels"
    labels = getattr(knn, field)
    del labels.vector[:]
    labels.vector.extend(store.label_values())
    return out


def _multiarray(value: Any) -> NDArray | None:
    # An MLMultiArray is an array, not a scalar: numbers and strings are "missing" arrays.
    if not isinstance(value, np.ndarray | list | tuple):
        return None
    try:
        array = np.asarray(value)
    except ValueError:  # ragged nested lists
        return None
    return array if array.dtype.kind in "fiu" else None


def _label(value: Any) -> str | int | None:
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_):
        return int(value)
    return None


def _describe(features, name: str) -> str:
    if name not in features:
        return f"no feature named '{name}'; it has {sorted(features)}"
    value = features[name]
    return f"feature '{name}' is a {type(value).__name__}"
