"""Spec side, editing layer: updatable k-nearest-neighbours classifiers
(``KNearestNeighborsClassifier``).

A Core ML kNN classifier stores its training examples (``floatSamples``) and one label per
example; an update task appends the user's examples, so the usual starting point is an
*empty* model with a default label that is predicted until examples exist (rules K1-K11 of
``KNearestNeighborsClassifierValidator.cpp``; an empty kNN is valid).

Differences from coremltools' ``KNearestNeighborsClassifierBuilder``: unknown keyword
arguments are errors (it ignores them, so the examples' ``k=3`` silently leaves k = 5), value
errors are ``ParameterError`` (a ``ValueError``) rather than ``TypeError``, sets replace
instead of accumulating, and samples are validated as a whole before any is added.
"""

from __future__ import annotations

import difflib
import inspect
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from updatable import proto
from updatable.edit.nested import KNN_TYPES, locate
from updatable.errors import ParameterError, UnknownArgumentError
from updatable.params import IntParam, as_int64, int_param

WEIGHTING_SCHEMES = {"uniform": "uniformWeighting", "inverse_distance": "inverseDistanceWeighting"}
INDEX_TYPES = ("linear", "kd_tree")
INPUT_DTYPES = {"float32": proto.ArrayFeatureType.FLOAT32, "double": proto.ArrayFeatureType.DOUBLE}
# coremltools' defaults: k = 5 allowed in [1, 1000], kd-tree leaves of 30
DEFAULT_NEIGHBORS_RANGE = (1, 1000)
DEFAULT_LEAF_SIZE = 30
# names people reach for (coremltools' and scikit-learn's) -> ours
_SUGGEST = {
    "k": "number_of_neighbors",
    "n_neighbors": "number_of_neighbors",
    "number_of_dimensions": "dimensions",
    "default_class_label": "default_label",
    "input_type": "input_dtype",
    "weights": "weighting_scheme",
    "algorithm": "index_type",
}


def make_knn_classifier(
    dimensions: int,
    default_label: str | int | None = None,
    *,
    input_name: str = "input",
    output_name: str = "label",
    probabilities_name: str | None = None,
    number_of_neighbors: int | IntParam = 5,
    weighting_scheme: str = "uniform",
    index_type: str = "linear",
    leaf_size: int | None = None,
    input_dtype: str = "float32",
    samples: ArrayLike | None = None,
    labels: Sequence[str | int] | None = None,
    updatable: bool = True,
    training_inputs: bool = True,
    **unknown: Any,
) -> proto.Model:
    """A new kNN classifier spec (version 4), empty unless ``samples`` are given.

    Args:
        dimensions: length of the input vector (``numberOfDimensions``), > 0.
        default_label: predicted while there are no examples; its type (``str`` or ``int``)
            chooses String or Int64 labels. May be ``None`` only when ``labels`` are given.
        input_name: the input feature, multiArray ``[dimensions]`` of ``input_dtype``.
        output_name: the predicted label output (``predictedFeatureName``).
        probabilities_name: the label -> probability dictionary output; default
            ``output_name + "Probs"`` as coremltools names it.
        number_of_neighbors: k; a plain int is allowed in ``[1, 1000]`` like coremltools, an
            :class:`IntParam` carries its own range or set. Must be positive (rule K1).
        weighting_scheme: ``"uniform"`` or ``"inverse_distance"``: weight ``1 / (d + 1e-6)``
            where ``d`` is the **squared** Euclidean distance (Core ML's only distance,
            ``squaredEuclideanDistance``), not scikit-learn's ``1 / distance``; see
            docs/update-task-semantics.md §9.
        index_type: ``"linear"`` (brute force) or ``"kd_tree"``.
        leaf_size: kd-tree leaf size (> 0, default 30); only for ``index_type="kd_tree"``.
        input_dtype: ``"float32"`` or ``"double"``.
        samples, labels: initial examples, shape ``(n, dimensions)``, and their labels.
        updatable: set ``Model.isUpdatable``.
        training_inputs: write ``trainingInput`` = [the input, the label], what an update task
            is given (Core ML does not check kNN training inputs, the runtime needs them).

    Raises:
        UnknownArgumentError: any other keyword argument (the message suggests the right name).
        ParameterError: a value Core ML would refuse.
    """
    if unknown:
        _refuse_unknown(unknown)
    names = _KnnNames(input_name, output_name, probabilities_name or f"{output_name}Probs")
    names.check()
    dims = as_int64(dimensions, "dimensions")
    if dims <= 0:
        raise ParameterError(f"dimensions must be a positive integer; got {dims}")
    label_kind = _label_kind(default_label, labels)
    k = _neighbors(number_of_neighbors)
    _check_choice("weighting_scheme", weighting_scheme, WEIGHTING_SCHEMES)
    _check_choice("index_type", index_type, INDEX_TYPES)
    if index_type == "linear" and leaf_size is not None:
        raise ParameterError("leaf_size applies to index_type='kd_tree' only")
    leaf = as_int64(DEFAULT_LEAF_SIZE if leaf_size is None else leaf_size, "leaf_size")
    if leaf <= 0:
        raise ParameterError(f"leaf_size must be a positive integer (rule K10); got {leaf}")
    _check_choice("input_dtype", input_dtype, INPUT_DTYPES)
    if samples is None and labels is not None:
        raise ParameterError("labels were given without samples")
    if samples is not None:
        points, new_labels = _check_samples(samples, labels, dims, label_kind)

    spec = proto.Model(specificationVersion=4, isUpdatable=bool(updatable))
    _describe(
        spec.description, names, (dims, INPUT_DTYPES[input_dtype]), label_kind, training_inputs
    )
    knn = spec.kNearestNeighborsClassifier
    knn.nearestNeighborsIndex.numberOfDimensions = dims
    # An empty label list still records the label type, as coremltools writes it.
    getattr(knn, f"{label_kind}ClassLabels").SetInParent()
    if default_label is not None:
        _set_default_label(knn, default_label, label_kind)
    knn.numberOfNeighbors.CopyFrom(k.to_proto())
    getattr(knn, WEIGHTING_SCHEMES[weighting_scheme]).SetInParent()
    if index_type == "kd_tree":
        knn.nearestNeighborsIndex.singleKdTreeIndex.leafSize = leaf
    else:
        knn.nearestNeighborsIndex.linearIndex.SetInParent()
    knn.nearestNeighborsIndex.squaredEuclideanDistance.SetInParent()
    if samples is not None:
        _append(knn, points, new_labels, label_kind)
    return spec


@dataclass(frozen=True)
class _KnnNames:
    """The feature names of a kNN classifier's interface."""

    input: str
    output: str
    probabilities: str

    def check(self) -> None:
        for what, name in (("input_name", self.input), ("output_name", self.output)):
            if not isinstance(name, str) or not name:
                raise ParameterError(f"{what} must be a non-empty string; got {name!r}")
        if len({self.input, self.output, self.probabilities}) < 3:
            raise ParameterError(
                f"input, output and probabilities need distinct names; got {self.input!r}, "
                f"{self.output!r}, {self.probabilities!r}"
            )


def _set_default_label(knn: proto.KNearestNeighborsClassifier, label: Any, label_kind: str) -> None:
    if label_kind == "string":
        knn.defaultStringLabel = label
    else:
        knn.defaultInt64Label = int(label)


def _check_choice(what: str, value: Any, table: Any) -> None:
    if value not in table:
        raise ParameterError(f"unknown {what} {value!r}; choose one of {list(table)}")


def _describe(
    description: proto.ModelDescription,
    names: _KnnNames,
    input_type: Any,
    label_kind: str,
    training: bool,
) -> None:
    """The model description: a ``[dims]`` multiArray in, a label and a dictionary out;
    ``input_type`` is ``(dims, ArrayDataType)``."""
    dims, dtype = input_type
    feature = description.input.add(name=names.input)
    feature.type.multiArrayType.shape.append(dims)
    feature.type.multiArrayType.dataType = dtype
    label_output = description.output.add(name=names.output)
    probabilities = description.output.add(name=names.probabilities)
    type_field = "stringType" if label_kind == "string" else "int64Type"
    getattr(label_output.type, type_field).SetInParent()
    key_field = "stringKeyType" if label_kind == "string" else "int64KeyType"
    getattr(probabilities.type.dictionaryType, key_field).SetInParent()
    description.predictedFeatureName = names.output
    description.predictedProbabilitiesName = names.probabilities
    if training:
        description.trainingInput.add().CopyFrom(feature)
        description.trainingInput.add().CopyFrom(label_output)


def add_samples(spec: proto.Model, samples: ArrayLike, labels: Sequence[str | int]) -> proto.Model:
    """Append examples and their labels to a kNN classifier (or a pipeline ending in one).

    ``samples`` has shape ``(n, numberOfDimensions)``; ``labels`` has ``n`` labels of the
    model's label type. Everything is checked before anything is appended, like Core ML's kNN
    update task. Returns ``spec``, modified in place.
    """
    model, _ = locate(spec, KNN_TYPES, "add_samples")
    knn = model.kNearestNeighborsClassifier
    dims = knn.nearestNeighborsIndex.numberOfDimensions
    kind = _model_label_kind(knn)
    points, new_labels = _check_samples(samples, labels, dims, kind)
    _append(knn, points, new_labels, kind or _label_kind(None, new_labels))
    return spec


def set_number_of_neighbors(spec: proto.Model, number_of_neighbors: int | IntParam) -> proto.Model:
    """Replace k and its allowed values (``numberOfNeighbors``); a plain int gets [1, 1000]."""
    k = _neighbors(number_of_neighbors)
    model, _ = locate(spec, KNN_TYPES, "set_number_of_neighbors")
    model.kNearestNeighborsClassifier.numberOfNeighbors.CopyFrom(k.to_proto())
    return spec


def _refuse_unknown(unknown: dict[str, Any]) -> None:
    signature = inspect.signature(make_knn_classifier)
    known = [p.name for p in signature.parameters.values() if p.kind != p.VAR_KEYWORD]
    hints = []
    for name in unknown:
        guess = _SUGGEST.get(name) or next(iter(difflib.get_close_matches(name, known, 1)), None)
        hints.append(f"'{name}'" + (f" (did you mean '{guess}'?)" if guess else ""))
    raise UnknownArgumentError(
        f"make_knn_classifier() got unknown argument(s) {', '.join(hints)}; it takes {known}"
    )


def _neighbors(value: Any) -> IntParam:
    if isinstance(value, IntParam):
        return int_param(value, "numberOfNeighbors", positive=True)
    k = as_int64(value, "number_of_neighbors")
    if k <= 0:
        raise ParameterError(f"number_of_neighbors must be a positive integer (rule K1); got {k}")
    low, high = DEFAULT_NEIGHBORS_RANGE
    if k > high:
        raise ParameterError(
            f"number_of_neighbors = {k} is above the default allowed range [{low}, {high}]; "
            f"pass IntParam({k}, range=(1, {k}), positive=True) to allow it"
        )
    return IntParam(k, range=DEFAULT_NEIGHBORS_RANGE, positive=True, name="numberOfNeighbors")


def _is_int_label(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _label_kind(default_label: Any, labels: Any) -> str:
    """``"string"`` or ``"int64"``, from the default label or else the first label."""
    if default_label is not None:
        if isinstance(default_label, str):
            return "string"
        if _is_int_label(default_label):
            as_int64(default_label, "default_label")
            return "int64"
        raise ParameterError(
            f"default_label must be a str or an int; got {default_label!r} "
            f"({type(default_label).__name__})"
        )
    if labels is not None and len(labels) > 0:
        return "string" if isinstance(labels[0], str) else "int64"
    raise ParameterError(
        "give a default_label: a kNN classifier without labels needs one to predict "
        "(Core ML rule K4)"
    )


def _model_label_kind(knn: proto.KNearestNeighborsClassifier) -> str | None:
    labels = knn.WhichOneof("ClassLabels")
    if labels:
        return "string" if labels == "stringClassLabels" else "int64"
    default = knn.WhichOneof("DefaultClassLabel")
    if default:
        return "string" if default == "defaultStringLabel" else "int64"
    return None


def _check_samples(samples: Any, labels: Any, dims: int, kind: str | None) -> Any:
    try:
        points = np.asarray(samples, dtype=np.float64)
    except (TypeError, ValueError):
        raise ParameterError("samples must be numbers of shape (n, dimensions)") from None
    if points.ndim != 2 or points.shape[0] == 0 or points.shape[1] != dims:
        raise ParameterError(
            f"samples must have shape (n >= 1, {dims}); got {points.shape} "
            "(one example is samples=[vector])"
        )
    if not np.isfinite(points).all():
        raise ParameterError("samples must be finite (no NaN or infinity)")
    if labels is None or isinstance(labels, (str, bytes)):
        raise ParameterError(
            f"expected a list of {len(points)} labels, one per sample; got {labels!r}"
        )
    labels = list(labels)
    if len(labels) != len(points):
        raise ParameterError(f"expected {len(points)} labels, one per sample; got {len(labels)}")
    kind = kind or _label_kind(None, labels)
    if kind == "string":
        wrong = [v for v in labels if not isinstance(v, str)]
    else:
        wrong = [v for v in labels if not _is_int_label(v)]
    if wrong:
        expected = "String" if kind == "string" else "Int64"
        raise ParameterError(f"the classifier has {expected} labels; got {wrong[:5]}")
    if kind == "int64":
        labels = [as_int64(v, "a label") for v in labels]
    return points.astype(np.float32), labels


def _append(
    knn: proto.KNearestNeighborsClassifier, points: np.ndarray, labels: list[Any], kind: str
) -> None:
    for point in points:
        knn.nearestNeighborsIndex.floatSamples.add().vector.extend(point.tolist())
    getattr(knn, f"{kind}ClassLabels").vector.extend(labels)
