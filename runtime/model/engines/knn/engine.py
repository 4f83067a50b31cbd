"""Runtime, model layer: run a ``KNearestNeighborsClassifier`` as Core ML does, on feature batches.

Prediction (docs/update-task-semantics.md §9, docs/mlmodel-format.md §1.5):

* distance: squared Euclidean, ``d = sum_i (x_i - y_i)^2`` over float32 values, accumulated in
  float64; the k nearest samples (all of them when there are fewer than k);
* weights: 1 (``uniformWeighting``) or ``1 / (d + 1e-6)`` (``inverseDistanceWeighting``);
* probability of a label = its weight sum / the total weight; predicted label = the argmax;
* an empty model predicts its default label with probability 1.

Choices where Core ML is silent [UNVERIFIED there], pinned by tests:

* **Tie rule.** Neighbours are ordered by ``(distance, sample index)``: among equidistant
  samples the one added first is nearer. Among labels with equal weight sums the winner is the
  label of the *first* neighbour in that order whose label is tied, i.e. the tied label whose
  nearest contributing sample is closest, then earliest added.
* **Probability dictionary.** It holds every label the model has samples for (0.0 for labels
  outside the k nearest), so its keys are the same for every query.
* **Debug outputs.** ``_debugNearestLabels``, ``_debugNearestDistances`` and
  ``_debugNearestFeatureIndices`` are produced when the model declares them: ``(N, k')`` arrays of
  the neighbours' labels, squared distances (float32, float64 for a DOUBLE output) and sample
  indices, nearest first, ``k' = min(k, number of samples)``.
* **Input shapes.** The input batch is ``(N, D)``. An embedding from a neural-network stage
  with extra size-1 axes (``(N, D, 1, 1)``, ``(N, 1, D)``) is flattened when the declared kNN input
  is 1-D ``[D]`` and dropping the size-1 axes leaves exactly ``(N, D)``; any other shape raises
  :class:`FeatureError`. Values are converted to float32, as Core ML stores its samples.

``k`` is the model's ``numberOfNeighbors`` default, or the load-time ``numberOfNeighbors``
parameter, checked against the model's allowed range or set (docs/update-task-semantics.md §4).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from runtime.kernels.knn import JIT
from runtime.model.configuration import lookup_parameter
from runtime.model.engines.knn.kdtree import KdTreeIndex
from runtime.model.engines.knn.linear import LinearIndex
from runtime.model.engines.knn.store import SampleStore
from runtime.model.hyperparameters import Hyperparameter
from updatable import proto
from updatable.errors import FeatureError, ShapeError, UnsupportedModelError, ValidationError

NUMBER_OF_NEIGHBORS = "numberOfNeighbors"
DEBUG_LABELS = "_debugNearestLabels"
DEBUG_DISTANCES = "_debugNearestDistances"
DEBUG_INDICES = "_debugNearestFeatureIndices"


@dataclass(frozen=True)
class KnnTrainingInfo:
    """What a kNN update needs to read its examples: feature names, dimension, label type."""

    input_name: str
    label_name: str
    dimensions: int
    label_type: type  # str or int


class KnnEngine:
    """Compiled kNN classifier: a sample store, an index and the output description."""

    def __init__(self, *, store, index, k, inverse, default_label, description, input_shape):
        self.store: SampleStore = store
        self.index: LinearIndex | KdTreeIndex = index
        self.k: int = k
        self.inverse: bool = inverse
        self.default_label = default_label
        self.input_name: str = description.input[0].name
        self.label_name: str = description.predictedFeatureName
        self.probabilities_name: str = description.predictedProbabilitiesName
        self.input_shape: tuple[int, ...] = input_shape
        outputs = {feature.name: feature.type for feature in description.output}
        self.debug_outputs = {name: outputs[name] for name in _DEBUG if name in outputs}
        probabilities = outputs.get(self.probabilities_name)
        if probabilities is not None and probabilities.WhichOneof("Type") != "dictionaryType":
            # Core ML's validator allows a multiArray here, but no source says in which
            # order its entries follow the labels; refuse rather than guess.
            raise UnsupportedModelError(
                f"kNN probabilities output '{self.probabilities_name}' is a "
                f"{probabilities.WhichOneof('Type')}; supported: a dictionary keyed by label"
            )

    @classmethod
    def compile(
        cls,
        spec: proto.Model,
        *,
        parameters: Mapping[Any, Any] | None = None,
        base_dir: Path | None = None,
    ) -> KnnEngine:
        """Read a ``kNearestNeighborsClassifier`` spec and its samples; apply load-time ``k``.

        Raises:
            UnsupportedModelError: ``spec`` is not a kNN classifier.
            ValidationError: the spec breaks one of Core ML's kNN rules (K2-K11 messages).
            ParameterError: a ``numberOfNeighbors`` override outside the model's allowed values.
        """
        del base_dir  # a kNN classifier links to no other file
        kind = spec.WhichOneof("Type")
        if kind != "kNearestNeighborsClassifier":
            raise UnsupportedModelError(
                f"KnnEngine runs kNearestNeighborsClassifier models, got '{kind}'"
            )
        knn = spec.kNearestNeighborsClassifier
        index_spec = knn.nearestNeighborsIndex
        if len(spec.description.input) != 1:
            raise ValidationError(
                "a kNN classifier has exactly one input (a multiArray of numberOfDimensions "
                f"values), got {[feature.name for feature in spec.description.input]}"
            )
        if not spec.description.predictedFeatureName:
            raise ValidationError("Specification is missing classifier predictedFeatureName")
        _check_structure(knn)
        if index_spec.numberOfDimensions < 1:
            # Core ML's validator only checks the samples' lengths against it (K8), so an
            # empty kNN with -1 dimensions validates; no input could ever match it
            raise ShapeError(
                f"the kNN's numberOfDimensions is {index_spec.numberOfDimensions}; expected a "
                f"positive number, the length of its input '{spec.description.input[0].name}'"
            )
        label_type = _label_type(spec)
        store = SampleStore(index_spec.numberOfDimensions, label_type)
        store.append(_read_samples(index_spec), _read_labels(knn))
        index: KdTreeIndex | LinearIndex
        if index_spec.WhichOneof("IndexType") == "singleKdTreeIndex":
            index = KdTreeIndex(index_spec.singleKdTreeIndex.leafSize)
        else:
            index = LinearIndex()
        which_default = knn.WhichOneof("DefaultClassLabel")
        return cls(
            store=store,
            index=index,
            k=_number_of_neighbors(knn, parameters),
            inverse=knn.WhichOneof("WeightingScheme") == "inverseDistanceWeighting",
            default_label=getattr(knn, which_default) if which_default else None,
            description=spec.description,
            input_shape=_declared_shape(spec.description.input[0]),
        )

    @property
    def training_info(self) -> KnnTrainingInfo:
        return KnnTrainingInfo(
            self.input_name, self.label_name, self.store.dimensions, self.store.label_type
        )

    def append(self, points: NDArray, labels: list) -> None:
        """Add samples after the existing ones (a kNN update; see
        ``runtime.training.knn_update``)."""
        self.store.append(points, labels)

    def neighbors(self, queries: NDArray[np.float32]) -> tuple[NDArray, NDArray]:
        """``(indices, squared distances)`` of the ``min(k, count)`` nearest samples."""
        return self.index.query(self.store, queries, self.k)

    def run(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        """Feature batch in (the input ``(N, D)``), label / probabilities / debug outputs out."""
        queries = self._queries(batch)
        idx, dist = self.neighbors(queries)
        labels = self.store.labels
        sums, winner = JIT["vote"](idx, dist, self.store.codes, len(labels), self.inverse)
        predicted = [labels[code] if code >= 0 else self.default_label for code in winner.tolist()]
        label_dtype = np.int64 if self.store.label_type is int else object
        out: dict[str, Any] = {self.label_name: np.array(predicted, dtype=label_dtype)}
        if self.probabilities_name:
            if self.store.count == 0:
                out[self.probabilities_name] = [{self.default_label: 1.0} for _ in predicted]
            else:
                out[self.probabilities_name] = [
                    dict(zip(labels, row, strict=True)) for row in sums.tolist()
                ]
        if DEBUG_LABELS in self.debug_outputs:
            values = np.array(labels, dtype=label_dtype)
            out[DEBUG_LABELS] = values[self.store.codes[idx]] if labels else idx.astype(label_dtype)
        if DEBUG_DISTANCES in self.debug_outputs:
            double = self.debug_outputs[DEBUG_DISTANCES].multiArrayType.dataType == _DOUBLE
            out[DEBUG_DISTANCES] = dist.astype(np.float64 if double else np.float32)
        if DEBUG_INDICES in self.debug_outputs:
            out[DEBUG_INDICES] = idx.copy()
        return out

    def _queries(self, batch: Mapping[str, Any]) -> NDArray[np.float32]:
        if self.input_name not in batch:
            raise FeatureError(
                f"missing input feature '{self.input_name}'; the batch has {sorted(batch)}"
            )
        try:
            value = np.asarray(batch[self.input_name], dtype=np.float32)
        except (TypeError, ValueError):
            raise FeatureError(
                f"input '{self.input_name}' must be a multiArray of numbers, got "
                f"{type(batch[self.input_name]).__name__}"
            ) from None
        dims = self.store.dimensions
        per_example = value.shape[1:]
        if value.ndim >= 2 and per_example != (dims,):
            squeezed = tuple(size for size in per_example if size != 1) or (1,)
            if len(self.input_shape) == 1 and squeezed == (dims,):
                value = value.reshape(len(value), dims)
            elif per_example == self.input_shape and int(np.prod(per_example)) == dims:
                value = value.reshape(len(value), dims)
        if value.ndim != 2 or value.shape[1] != dims:
            raise FeatureError(
                f"input '{self.input_name}' must be a batch of shape (N, {dims}) (declared "
                f"{list(self.input_shape)}; size-1 axes are dropped for a 1-D input), got "
                f"{value.shape}"
            )
        if not np.isfinite(value).all():
            raise FeatureError(f"input '{self.input_name}' contains NaN or infinite values")
        return np.ascontiguousarray(value)


_DEBUG = (DEBUG_LABELS, DEBUG_DISTANCES, DEBUG_INDICES)
_DOUBLE = proto.ArrayFeatureType.DOUBLE


def _declared_shape(feature) -> tuple[int, ...]:
    if feature.type.WhichOneof("Type") != "multiArrayType":
        raise UnsupportedModelError(
            f"kNN input '{feature.name}' must be a multiArray, got "
            f"{feature.type.WhichOneof('Type')}"
        )
    return tuple(int(size) for size in feature.type.multiArrayType.shape)


def _number_of_neighbors(knn, parameters) -> int:
    message = knn.numberOfNeighbors
    if message.defaultValue <= 0:
        raise ValidationError(
            f"Default Value ({message.defaultValue}) for '{NUMBER_OF_NEIGHBORS}' expected to "
            "be a positive value."
        )
    parameter = Hyperparameter.of(NUMBER_OF_NEIGHBORS, message, int)
    override = lookup_parameter(parameters, NUMBER_OF_NEIGHBORS)
    k = parameter.default if override is None else parameter.check(override)
    if k <= 0:
        raise ValidationError(f"'{NUMBER_OF_NEIGHBORS}' must be a positive value, got {k}")
    return k


def _label_type(spec) -> type:
    """``str`` or ``int``: from the labels, else the default label, else the label output."""
    knn = spec.kNearestNeighborsClassifier
    labels = knn.WhichOneof("ClassLabels")
    default = knn.WhichOneof("DefaultClassLabel")
    if labels and default and (labels == "int64ClassLabels") != (default == "defaultInt64Label"):
        raise ValidationError(
            "KNearestNeighborsClassifier's class label and default class label have "
            "different types."
        )
    if labels or default:
        return int if "int64ClassLabels" == labels or default == "defaultInt64Label" else str
    for feature in spec.description.output:
        if feature.name == spec.description.predictedFeatureName:
            if feature.type.WhichOneof("Type") == "int64Type":
                return int
            if feature.type.WhichOneof("Type") == "stringType":
                return str
    raise ValidationError(
        "KNearestNeighborsClassifier should specify default class labels when class labels "
        "are not specified."
    )


def _read_labels(knn) -> list:
    which = knn.WhichOneof("ClassLabels")
    return list(getattr(knn, which).vector) if which else []


def _read_samples(index_spec) -> NDArray[np.float32]:
    samples = index_spec.floatSamples
    points = np.empty((len(samples), index_spec.numberOfDimensions), np.float32)
    for row, sample in enumerate(samples):
        points[row] = sample.vector
    return points


def _check_structure(knn) -> None:
    """Core ML's kNN rules K2, K4 and K6-K11 that running the model depends on."""
    index_spec = knn.nearestNeighborsIndex
    n_samples = len(index_spec.floatSamples)
    n_labels = len(_read_labels(knn))
    dims = index_spec.numberOfDimensions
    rules = (
        (
            knn.WhichOneof("WeightingScheme") is None,
            "KNearestNeighborsClassifier requires a weighting scheme to be set.",
        ),
        (
            knn.WhichOneof("DefaultClassLabel") is None and n_labels == 0,
            "KNearestNeighborsClassifier should specify default class labels when class "
            "labels are not specified.",
        ),
        (n_labels > 0 and n_samples == 0, "KNearestNeighborsClassifier has no data points."),
        (
            n_labels != n_samples,
            f'Unexpected number of labels "{n_labels}" for the given number of examples: '
            f'"{n_samples}.',
        ),
        (
            any(len(sample.vector) != dims for sample in index_spec.floatSamples),
            f'Unexpected length "{n_samples}" given the provided number of dimensions "{dims}.',
        ),
        (
            index_spec.WhichOneof("IndexType") is None,
            "KNearestNeighborsClassifier has no index type specified.",
        ),
        (
            index_spec.WhichOneof("IndexType") == "singleKdTreeIndex"
            and index_spec.singleKdTreeIndex.leafSize <= 0,
            "KNearestNeighborsClassifier requires leaf size to be a positive integer.",
        ),
        (
            index_spec.WhichOneof("DistanceFunction") is None,
            "KNearestNeighborsClassifier requires a distance function to be set.",
        ),
    )
    for broken, message in rules:
        if broken:
            raise ValidationError(message)
