"""make_knn_classifier and the kNN helpers, against coremltools' kNN builder (§6.2)."""

from __future__ import annotations

import numpy as np
import pytest
from coremltools.models import datatypes
from coremltools.models.nearest_neighbors import KNearestNeighborsClassifierBuilder

import updatable
from tests import builders
from updatable import IntParam, proto
from updatable.edit.knn import add_samples, make_knn_classifier, set_number_of_neighbors
from updatable.errors import ParameterError, UnknownArgumentError, UnsupportedModelError


def copy(spec):
    duplicate = proto.Model()
    duplicate.CopyFrom(spec)
    return duplicate


def theirs(default="x", dims=4, **kwargs):
    return KNearestNeighborsClassifierBuilder(
        input_name="input",
        output_name="output",
        number_of_dimensions=dims,
        default_class_label=default,
        **kwargs,
    )


def ours(default="x", dims=4, **kwargs):
    return make_knn_classifier(dims, default, input_name="input", output_name="output", **kwargs)


def errors(spec):
    return [issue for issue in updatable.validate(spec) if issue.severity == "error"]


@pytest.mark.parametrize(
    "default, kwargs, their_kwargs",
    [
        ("x", {}, {}),
        (7, {}, {}),
        ("x", {"weighting_scheme": "inverse_distance"}, {"weighting_scheme": "inverse_distance"}),
        ("x", {"index_type": "kd_tree"}, {"index_type": "kd_tree"}),
        (
            "x",
            {"index_type": "kd_tree", "leaf_size": 12},
            {"index_type": "kd_tree", "leaf_size": 12},
        ),
        ("x", {"input_dtype": "double"}, {"input_type": datatypes.Double}),
        ("x", {"number_of_neighbors": 9}, {"number_of_neighbors": 9}),
    ],
)
def test_same_protobuf_as_coremltools(default, kwargs, their_kwargs):
    expected = theirs(default, **their_kwargs).spec
    spec = ours(default, **kwargs)
    assert spec == expected
    assert spec.SerializeToString() == expected.SerializeToString()
    assert errors(spec) == []


def test_interface_of_an_empty_string_classifier():
    """Port of the output-type and training-input checks of the kNN builder tests."""
    spec = make_knn_classifier(4, "defaultLabel")
    assert spec.specificationVersion == 4 and spec.isUpdatable
    description = spec.description
    assert [f.name for f in description.output] == ["label", "labelProbs"]
    assert description.output[0].type.WhichOneof("Type") == "stringType"
    assert description.output[1].type.dictionaryType.WhichOneof("KeyType") == "stringKeyType"
    assert [f.name for f in description.trainingInput] == ["input", "label"]
    assert description.trainingInput[0] == description.input[0]
    assert list(description.input[0].type.multiArrayType.shape) == [4]
    knn = spec.kNearestNeighborsClassifier
    assert knn.HasField("stringClassLabels") and not knn.stringClassLabels.vector
    assert knn.numberOfNeighbors.defaultValue == 5
    assert (knn.numberOfNeighbors.range.minValue, knn.numberOfNeighbors.range.maxValue) == (1, 1000)
    assert knn.nearestNeighborsIndex.WhichOneof("DistanceFunction") == "squaredEuclideanDistance"


def test_neighbor_bounds_like_coremltools():
    ranged = theirs()
    ranged.set_number_of_neighbors_with_bounds(12, allowed_range=(2, 24))
    assert ours(number_of_neighbors=IntParam(12, range=(2, 24))) == ranged.spec
    chosen = theirs()
    chosen.set_number_of_neighbors_with_bounds(7, allowed_set={3, 5, 7, 9})
    spec = ours(number_of_neighbors=IntParam(7, choices={3, 5, 7, 9}))
    # coremltools writes the set in Python's set iteration order (here 9, 3, 5, 7); we sort it
    their_values = chosen.spec.kNearestNeighborsClassifier.numberOfNeighbors.set.values
    assert list(their_values) == list({3, 5, 7, 9})
    assert list(spec.kNearestNeighborsClassifier.numberOfNeighbors.set.values) == [3, 5, 7, 9]
    their_values[:] = sorted(their_values)
    assert spec == chosen.spec


def test_setting_neighbors_twice_replaces_the_set():
    """coremltools appends to the set on every call (§5.5 bug 3)."""
    builder = theirs()
    builder.set_number_of_neighbors_with_bounds(3, allowed_set={1, 3})
    builder.set_number_of_neighbors_with_bounds(3, allowed_set={3, 5})
    assert builder.number_of_neighbors_allowed_set() == {1, 3, 5}
    spec = ours()
    set_number_of_neighbors(spec, IntParam(3, choices=(1, 3)))
    set_number_of_neighbors(spec, IntParam(3, choices=(3, 5)))
    assert list(spec.kNearestNeighborsClassifier.numberOfNeighbors.set.values) == [3, 5]
    set_number_of_neighbors(spec, 4)
    knn = spec.kNearestNeighborsClassifier.numberOfNeighbors
    assert knn.defaultValue == 4 and knn.WhichOneof("AllowedValues") == "range"


def test_unknown_keyword_arguments_are_errors_not_ignored():
    """The examples pass k=3, which coremltools silently ignores (k stays 5)."""
    assert theirs(k=3).number_of_neighbors == 5
    with pytest.raises(UnknownArgumentError) as info:
        ours(k=3)
    assert "got unknown argument(s) 'k' (did you mean 'number_of_neighbors'?)" in str(info.value)
    with pytest.raises(
        UnknownArgumentError, match=r"'weighting_schme' \(did you mean 'weighting_scheme'\?\)"
    ):
        ours(weighting_schme="uniform")
    with pytest.raises(TypeError):  # also a TypeError, as Python's own message would be
        ours(index="linear")


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"dims": 0}, "dimensions must be a positive integer; got 0"),
        ({"dims": -1}, "dimensions must be a positive integer; got -1"),
        ({"default": 1.5}, "default_label must be a str or an int; got 1.5 (float)"),
        ({"default": True}, "default_label must be a str or an int"),
        ({"default": None}, "give a default_label"),
        ({"weighting_scheme": "distance"}, "unknown weighting_scheme 'distance'"),
        ({"index_type": "ball_tree"}, "unknown index_type 'ball_tree'; choose one of"),
        ({"index_type": "kd_tree", "leaf_size": 0}, "leaf_size must be a positive integer"),
        ({"leaf_size": 10}, "leaf_size applies to index_type='kd_tree' only"),
        ({"number_of_neighbors": 0}, "number_of_neighbors must be a positive integer"),
        (
            {"number_of_neighbors": 2000},
            "pass IntParam(2000, range=(1, 2000), positive=True) to allow it",
        ),
        ({"number_of_neighbors": IntParam(4, choices=(0, 4))}, "allowed values must be positive"),
        ({"number_of_neighbors": IntParam(4, range=(-1, 5))}, "range minimum must be positive"),
        ({"input_dtype": "float16"}, "unknown input_dtype 'float16'"),
        ({"labels": ["a"]}, "labels were given without samples"),
        (
            {"samples": [[1, 2, 3]], "labels": ["a"]},
            "samples must have shape (n >= 1, 4); got (1, 3)",
        ),
        ({"samples": [[1, 2, 3, 4]], "labels": ["a", "b"]}, "expected 1 labels, one per sample"),
        ({"samples": [[1, 2, 3, 4]], "labels": [1]}, "the classifier has String labels; got [1]"),
        ({"samples": [[1, 2, 3, np.nan]], "labels": ["a"]}, "samples must be finite"),
        ({"samples": [], "labels": []}, "samples must have shape"),
    ],
)
def test_bad_values_are_value_errors_with_clear_messages(kwargs, fragment):
    """Ports of the kNN builder error tests; coremltools raises TypeError for most of these."""
    with pytest.raises(ParameterError) as info:
        ours(**kwargs)
    assert fragment in str(info.value)


def test_initial_samples_and_int64_labels():
    points = np.arange(12, dtype=np.float64).reshape(3, 4) / 7
    spec = make_knn_classifier(
        4, samples=points, labels=[np.int64(2), 5, 2], number_of_neighbors=IntParam(1, range=(1, 3))
    )
    knn = spec.kNearestNeighborsClassifier
    assert knn.WhichOneof("DefaultClassLabel") is None
    assert list(knn.int64ClassLabels.vector) == [2, 5, 2]
    stored = np.array([sample.vector for sample in knn.nearestNeighborsIndex.floatSamples])
    np.testing.assert_array_equal(stored, points.astype(np.float32))
    assert spec.description.output[0].type.WhichOneof("Type") == "int64Type"
    assert errors(spec) == []


def test_add_samples_matches_coremltools_and_is_all_or_nothing():
    """Port of the add_samples contracts."""
    builder = theirs()
    builder.add_samples([[1.0, 2, 3, 4], [5, 6, 7, 8]], ["a", "b"])
    spec = ours()
    assert add_samples(spec, [[1.0, 2, 3, 4], [5, 6, 7, 8]], ["a", "b"]) is spec
    assert spec == builder.spec
    before = copy(spec)
    for points, labels, fragment in [
        ([[1.0, 2, 3, 4], [1, 2, 3]], ["c", "d"], "samples must be numbers"),
        ([[1.0, 2, 3, 4]], [7], "the classifier has String labels"),
        ([[1.0, 2, 3, 4]], "c", "expected a list of 1 labels"),
        ([1.0, 2, 3, 4], ["c"], "one example is samples=[vector]"),
    ]:
        with pytest.raises(ParameterError, match=fragment.replace("[", r"\[")):
            add_samples(spec, points, labels)
        assert spec == before
    assert errors(spec) == []


def test_standalone_knn_example():
    """updatable-nearest-neighbor-classifier (§6.5): 128-d, inverse distance, kd-tree 30."""
    spec = make_knn_classifier(
        128,
        "defaultLabel",
        weighting_scheme="inverse_distance",
        index_type="kd_tree",
        number_of_neighbors=IntParam(3, range=(1, 30)),
    )
    builder = KNearestNeighborsClassifierBuilder(
        input_name="input",
        output_name="label",
        number_of_dimensions=128,
        default_class_label="defaultLabel",
        weighting_scheme="inverse_distance",
    )
    builder.set_index_type("kd_tree", 30)
    builder.set_number_of_neighbors_with_bounds(3, allowed_range=(1, 30))
    assert spec == builder.spec
    assert errors(spec) == []


def test_not_updatable_and_without_training_inputs():
    spec = ours(updatable=False, training_inputs=False)
    assert not spec.isUpdatable and not spec.description.trainingInput
    assert errors(spec) == []


def test_helpers_reach_the_knn_at_the_end_of_a_pipeline():
    pipeline = updatable.make_pipeline(
        builders.drawing_embedding(), make_knn_classifier(128, "unknown")
    )
    add_samples(pipeline, np.ones((2, 128)), ["cat", "dog"])
    knn = pipeline.pipelineClassifier.pipeline.models[1].kNearestNeighborsClassifier
    assert len(knn.nearestNeighborsIndex.floatSamples) == 2
    with pytest.raises(UnsupportedModelError, match="add_samples needs"):
        add_samples(builders.base_nn(), np.ones((1, 3)), ["a"])
