"""Spec side, validation layer: k-nearest-neighbours classifier rules K1-K11.

Source: coremltools ``mlmodel/src/Validation/KNearestNeighborsClassifierValidator.cpp``. The
same rules apply whether or not the model is updatable: there is no kNN-specific updatable
rule and no ``trainingInput`` check. The messages this validator writes itself end with
``std::endl``; like every message here they are reported without the trailing newline.

An **empty** kNN (no samples, no labels) is valid: it needs a default label, an index and a
distance function. That is the usual starting point for on-device training.
"""

from __future__ import annotations

from collections.abc import Iterator

from updatable import proto
from updatable.validation.generic import classifier_problem
from updatable.validation.hyperparameters import int64_parameter_problem
from updatable.validation.issues import MODEL_PARAMS, UPD_CONFIG, At, Issue


def _label_count(knn: proto.KNearestNeighborsClassifier) -> int:
    # Core ML counts both oneof cases and takes the larger (only one can be set).
    ints = len(knn.int64ClassLabels.vector) if knn.HasField("int64ClassLabels") else 0
    strings = len(knn.stringClassLabels.vector) if knn.HasField("stringClassLabels") else 0
    return max(ints, strings)


def neighbours_valid(model: proto.Model, at: At) -> Iterator[Issue]:
    """K1: ``numberOfNeighbors`` passes the Int64 rules with positive values (an absent
    parameter has default 0 and fails). Reported as an updatable-configuration error even for
    a model that is not updatable, as Core ML does."""
    knn = model.kNearestNeighborsClassifier
    problem = int64_parameter_problem("numberOfNeighbors", knn.numberOfNeighbors, True)
    if problem is not None:
        yield at.error("K1", "numberOfNeighbors", problem, UPD_CONFIG)


def weighting_set(model: proto.Model, at: At) -> Iterator[Issue]:
    """K2: a weighting scheme (uniform or inverse distance) is set."""
    if model.kNearestNeighborsClassifier.WhichOneof("WeightingScheme") is None:
        message = "KNearestNeighborsClassifier requires a weighting scheme to be set."
        yield at.error("K2", "weightingScheme", message, MODEL_PARAMS)


def default_label_valid(model: proto.Model, at: At) -> Iterator[Issue]:
    """K3 / K4: the default label has the labels' type; without one, some label exists."""
    knn = model.kNearestNeighborsClassifier
    labels, default = knn.WhichOneof("ClassLabels"), knn.WhichOneof("DefaultClassLabel")
    expected = {"defaultStringLabel": "stringClassLabels", "defaultInt64Label": "int64ClassLabels"}
    if default is not None:
        if labels is not None and labels != expected[default]:
            message = (
                "KNearestNeighborsClassifier's class label and default class label have "
                "different types."
            )
            yield at.error("K3", default, message, MODEL_PARAMS)
    elif _label_count(knn) == 0:
        message = (
            "KNearestNeighborsClassifier should specify default class labels when class labels "
            "are not specified."
        )
        yield at.error("K4", "defaultClassLabel", message, MODEL_PARAMS)


def classifier_interface(model: proto.Model, at: At) -> Iterator[Issue]:
    """K5: the classifier interface, with empty labels allowed; the label type comes from the
    labels, or from the default label when there are none."""
    knn = model.kNearestNeighborsClassifier
    default_is_int64 = knn.WhichOneof("DefaultClassLabel") == "defaultInt64Label"
    problem = classifier_problem(
        model, knn, allow_empty_labels=True, default_is_int64=default_is_int64
    )
    if problem is not None:
        yield at.error("K5", "description", *problem)


def index_valid(model: proto.Model, at: At) -> Iterator[Issue]:
    """K6-K11 (``validateNearestNeighborsIndex``): labels need samples (K6); one label per
    sample (K7); every sample has ``numberOfDimensions`` values (K8); an index is set (K9); a
    kd-tree has a positive leaf size (K10); a distance function is set (K11)."""
    knn = model.kNearestNeighborsClassifier
    index, labels = knn.nearestNeighborsIndex, _label_count(knn)
    samples = len(index.floatSamples)
    item = "nearestNeighborsIndex"
    if samples == 0 and labels != 0:
        yield at.error("K6", item, "KNearestNeighborsClassifier has no data points.", MODEL_PARAMS)
        return
    if samples != labels:
        # The unbalanced quotes are Core ML's.
        message = (
            f'Unexpected number of labels "{labels}" for the given number of examples: "{samples}.'
        )
        yield at.error("K7", item, message, MODEL_PARAMS)
        return
    for sample in index.floatSamples:
        if len(sample.vector) != index.numberOfDimensions:
            # Core ML prints the number of samples here, not the length of the sample.
            message = (
                f'Unexpected length "{samples}" given the provided number of dimensions '
                f'"{index.numberOfDimensions}.'
            )
            yield at.error("K8", item, message, MODEL_PARAMS)
            return
    kind = index.WhichOneof("IndexType")
    if kind is None:
        message = "KNearestNeighborsClassifier has no index type specified."
        yield at.error("K9", item, message, MODEL_PARAMS)
        return
    if kind == "singleKdTreeIndex" and index.singleKdTreeIndex.leafSize <= 0:
        message = "KNearestNeighborsClassifier requires leaf size to be a positive integer."
        yield at.error("K10", item, message, MODEL_PARAMS)
        return
    if index.WhichOneof("DistanceFunction") is None:
        message = "KNearestNeighborsClassifier requires a distance function to be set."
        yield at.error("K11", item, message, MODEL_PARAMS)
