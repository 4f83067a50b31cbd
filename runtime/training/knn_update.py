"""What a kNN update task does: read and check every example, append them all, write them out.

Core ML's kNN update (update-task-semantics.md §A.9, [INFERRED]) validates *every* example
before it adds any: each must be a non-nil feature provider whose input is a 1-D
``MLMultiArray`` of exactly ``numberOfDimensions`` values and whose label is a String or an
Int64. The first bad example fails the task with one of Core ML's messages and nothing is
added. Then the examples are appended after the existing samples in provider order; there is
no epoch, batch, shuffle or loss. A ``[1, D]`` array where ``[D]`` is expected is the classic
mistake (coremltools issue #913), and is refused.

The three steps are separate so that ``UpdateTask`` can fail before touching the model:
``points, labels = collect_examples(provider, engine)``, then ``apply(engine, points,
labels)``, then ``write_samples(spec, engine)`` when the app writes the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from runtime.model.engines.knn.engine import KnnEngine, KnnTrainingInfo
from updatable import proto
from updatable.edit.nested import KNN_TYPES, locate
from updatable.errors import KnnUpdateError

_TYPE_NAMES = {str: "String", int: "Int64"}


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
