"""k-nearest-neighbours rules K1-K11 (docs/mlmodel-format.md §2.6; ports of
KNNValidatorTests.cpp)."""

from __future__ import annotations

import pytest

from tests import builders
from tests.issue_checks import expect_issue as expect
from updatable.validation import core_ml_issue, validate

MODEL_PARAMS = "INVALID_MODEL_PARAMETERS"
UPD_CONFIG = "INVALID_UPDATABLE_MODEL_CONFIGURATION"


def knn(spec):
    return spec.kNearestNeighborsClassifier


def add_samples(spec, points, labels):
    for point in points:
        knn(spec).nearestNeighborsIndex.floatSamples.add().vector.extend(point)
    knn(spec).stringClassLabels.vector.extend(labels)


def test_empty_knn_is_valid_updatable_or_not():
    spec = builders.empty_knn()
    assert core_ml_issue(spec) is None
    spec.isUpdatable = False
    assert core_ml_issue(spec) is None
    spec.kNearestNeighborsClassifier.nearestNeighborsIndex.numberOfDimensions = 0
    assert core_ml_issue(spec) is None  # dimensions matter only once samples exist


def test_knn_with_samples_is_valid():
    """Port of Good / LinearIndex / kd-tree with a positive leaf size."""
    spec = builders.empty_knn(index_type="kd_tree", leaf_size=12)
    add_samples(spec, [[1, 2, 3, 4], [5, 6, 7, 8]], ["a", "b"])
    assert core_ml_issue(spec) is None


def test_k1_number_of_neighbors_out_of_range_even_when_not_updatable():
    spec = builders.empty_knn()
    spec.isUpdatable = False
    knn(spec).numberOfNeighbors.defaultValue = 2000
    expect(
        spec,
        "K1",
        "Specified Default Value (2000) out of Allowed Value Range for 'numberOfNeighbors'",
        UPD_CONFIG,
        "numberOfNeighbors",
    )


@pytest.mark.parametrize(
    ("default", "values", "bounds", "message"),
    [
        (
            None,
            None,
            None,
            "Default Value (0) for 'numberOfNeighbors' expected to be a positive value.",
        ),
        (
            4,
            None,
            (-1, 10),
            "Non-positive min value (-1) in Allowed Value Range for 'numberOfNeighbors' "
            "is not allowed.",
        ),
        (
            4,
            None,
            (0, 10),
            "Non-positive min value (0) in Allowed Value Range for 'numberOfNeighbors' "
            "is not allowed.",
        ),
        (
            4,
            None,
            (10, 2),
            "Specified Default Value (4) out of Allowed Value Range for 'numberOfNeighbors'",
        ),
        (
            4,
            None,
            (2, -2),
            "Non-positive max value (-2) in Allowed Value Range for 'numberOfNeighbors' "
            "is not allowed.",
        ),
        (
            4,
            [0, 4],
            None,
            "Non-positive value (0) in Allowed Values Set for 'numberOfNeighbors' is not allowed.",
        ),
        (
            4,
            [-1, 4],
            None,
            "Non-positive value (-1) in Allowed Values Set for 'numberOfNeighbors' is not allowed.",
        ),
        (
            -1,
            [-1],
            None,
            "Default Value (-1) for 'numberOfNeighbors' expected to be a positive value.",
        ),
        (
            6,
            [3, 5, 7, 9],
            None,
            "Specified Default Value (6) not found in Allowed Values Set for 'numberOfNeighbors'",
        ),
        (4, [1, 4], None, None),
        (7, [3, 5, 7, 9], None, None),
        (12, None, (2, 24), None),
    ],
)
def test_k1_number_of_neighbors(default, values, bounds, message):
    spec = builders.empty_knn()
    k = knn(spec).numberOfNeighbors
    k.Clear()
    if default is not None:
        k.defaultValue = default
    if values is not None:
        k.set.values.extend(values)
    if bounds is not None:
        k.range.minValue, k.range.maxValue = bounds
    if message is None:
        assert core_ml_issue(spec) is None
    else:
        expect(spec, "K1", message, UPD_CONFIG)


def test_k2_no_weighting_scheme():
    spec = builders.empty_knn()
    knn(spec).ClearField("uniformWeighting")
    expect(
        spec,
        "K2",
        "KNearestNeighborsClassifier requires a weighting scheme to be set.",
        MODEL_PARAMS,
    )


def test_k3_label_and_default_types_differ():
    spec = builders.empty_knn()
    knn(spec).int64ClassLabels.SetInParent()  # int64 labels, string default "x"
    expect(
        spec,
        "K3",
        "KNearestNeighborsClassifier's class label and default class label have different types.",
        MODEL_PARAMS,
        "defaultStringLabel",
    )


def test_k4_no_default_and_no_labels():
    spec = builders.empty_knn()
    knn(spec).ClearField("defaultStringLabel")
    expect(
        spec,
        "K4",
        "KNearestNeighborsClassifier should specify default class labels when class labels are "
        "not specified.",
        MODEL_PARAMS,
    )
    add_samples(spec, [[1, 2, 3, 4]], ["a"])  # labels without a default are enough
    assert core_ml_issue(spec) is None


def test_k5_classifier_interface():
    spec = builders.empty_knn()
    spec.description.predictedFeatureName = ""
    expect(
        spec,
        "K5",
        "Specification is missing classifier predictedFeatureName",
        "INVALID_MODEL_INTERFACE",
    )
    spec = builders.empty_knn(default_label=3)  # Int64 labels, Int64 output
    assert core_ml_issue(spec) is None
    spec.description.output[0].type.Clear()
    spec.description.output[0].type.stringType.SetInParent()
    expect(
        spec,
        "K5",
        'Unsupported type "MLFeatureTypeType_stringType" for feature "output". Should be one of: '
        "MLFeatureTypeType_int64Type.",
        "UNSUPPORTED_FEATURE_TYPE_FOR_MODEL_TYPE",
    )


def test_k6_labels_without_points():
    spec = builders.empty_knn()
    knn(spec).stringClassLabels.vector.append("a")
    expect(spec, "K6", "KNearestNeighborsClassifier has no data points.", MODEL_PARAMS)


def test_k7_wrong_number_of_labels():
    spec = builders.empty_knn()
    add_samples(spec, [[1, 2, 3, 4]], [])
    expect(
        spec,
        "K7",
        'Unexpected number of labels "0" for the given number of examples: "1.',
        MODEL_PARAMS,
        "nearestNeighborsIndex",
    )


def test_k8_sample_length_prints_the_sample_count():
    spec = builders.empty_knn()
    add_samples(spec, [[1, 2, 3, 4], [1, 2], [1, 2, 3, 4]], ["a", "b", "c"])
    expect(
        spec,
        "K8",
        'Unexpected length "3" given the provided number of dimensions "4.',
        MODEL_PARAMS,
    )
    spec = builders.empty_knn()
    add_samples(spec, [[1, 2, 3, 4]], ["a"])
    knn(spec).nearestNeighborsIndex.numberOfDimensions = 0  # port of NoDimension
    assert core_ml_issue(spec).code == "K8"


def test_k9_no_index():
    spec = builders.empty_knn()
    knn(spec).nearestNeighborsIndex.ClearField("linearIndex")
    expect(spec, "K9", "KNearestNeighborsClassifier has no index type specified.", MODEL_PARAMS)


@pytest.mark.parametrize("leaf_size", [0, -1])
def test_k10_kd_tree_leaf_size(leaf_size):
    spec = builders.empty_knn(index_type="kd_tree")
    knn(spec).nearestNeighborsIndex.singleKdTreeIndex.leafSize = leaf_size
    expect(
        spec,
        "K10",
        "KNearestNeighborsClassifier requires leaf size to be a positive integer.",
        MODEL_PARAMS,
    )


def test_k11_no_distance_function():
    spec = builders.empty_knn()
    knn(spec).nearestNeighborsIndex.ClearField("squaredEuclideanDistance")
    expect(
        spec,
        "K11",
        "KNearestNeighborsClassifier requires a distance function to be set.",
        MODEL_PARAMS,
    )


def test_knn_training_inputs_are_not_a_core_ml_rule():
    spec = builders.empty_knn()
    spec.description.ClearField("trainingInput")
    assert core_ml_issue(spec) is None
    assert [issue.code for issue in validate(spec)] == ["X9"]
