"""kNN prediction: parity with scikit-learn, the pinned tie rule, k, labels, inputs, outputs."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.model.configuration import ParameterKey
from runtime.model.engines.knn import KnnEngine
from runtime.model.engines.knn.kdtree import KdTreeIndex
from tests import builders
from tests.optional import needs
from updatable.errors import FeatureError, ParameterError, UnsupportedModelError, ValidationError

INDEXES = ["linear", "kd_tree"]
WEIGHTINGS = ["uniform", "inverse_distance"]


def core_ml_inverse_distance(distance):
    """Core ML's weight 1 / (d^2 + 1e-6) from sklearn's Euclidean (not squared) distance."""
    return 1.0 / (distance**2 + 1e-6)


def sklearn_model(points, labels, k, weighting, algorithm):
    weights = "uniform" if weighting == "uniform" else core_ml_inverse_distance
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(k, weights=weights, algorithm=algorithm).fit(points, labels)


def engine_for(points, labels, *, k, weighting="uniform", index="linear", **kwargs):
    spec = builders.knn_classifier(
        points, labels, k=k, weighting=weighting, index=index, debug_outputs=True, **kwargs
    )
    return KnnEngine.compile(spec, parameters={})


def ranked_neighbors(points, queries):
    """Every sample per query, by (exact float64 distance, index): the pinned order."""
    distances = ((queries[:, None, :].astype(np.float64) - points[None]) ** 2).sum(axis=2)
    order = np.lexsort((np.broadcast_to(np.arange(len(points)), distances.shape), distances))
    return order, np.take_along_axis(distances, order, axis=1)


def probability_matrix(dicts, classes):
    return np.array([[row.get(label, 0.0) for label in classes] for row in dicts])


def assert_matches_sklearn(engine, reference, queries, k, comparable):
    """Neighbours, probabilities and labels equal sklearn's on the ``comparable`` queries."""
    out = engine.run({"input": queries})
    _, neighbors = reference.kneighbors(queries, k)
    ours = out["_debugNearestFeatureIndices"]
    for row in np.flatnonzero(comparable):
        assert set(ours[row]) == set(neighbors[row]), f"query {row}"
    got = probability_matrix(out["outputProbs"], reference.classes_)
    want = reference.predict_proba(queries)
    np.testing.assert_allclose(got[comparable], want[comparable], rtol=1e-6, atol=1e-12)
    # Labels: equal where sklearn's best class is unique; where classes tie, ours is one of
    # the tied ones (the pinned tie rule is tested separately).
    top = np.sort(want, axis=1)
    unique = comparable & (top[:, -1] - top[:, -2] > 1e-9)
    predicted = reference.classes_[np.argmax(want, axis=1)]
    np.testing.assert_array_equal(out["output"][unique], predicted[unique])
    for row in np.flatnonzero(comparable & ~unique):
        best = reference.classes_[np.isclose(want[row], top[row, -1], rtol=1e-9)]
        assert out["output"][row] in best, f"query {row}"


@pytest.mark.parametrize("index", INDEXES)
@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("k", [1, 3, 7])
@needs("sklearn")
def test_random_data_matches_sklearn_brute_and_kd_tree(index, weighting, k):
    rng = np.random.default_rng(k)
    points = rng.standard_normal((400, 6)).astype(np.float32)
    points[50:60] = points[0:10]  # duplicate points with the same labels
    labels = rng.integers(0, 4, 400)
    labels[50:60] = labels[0:10]
    queries = rng.standard_normal((120, 6)).astype(np.float32)
    queries[:5] = points[:5]  # zero distances (and duplicates at distance 0)
    engine = engine_for(points, labels, k=k, weighting=weighting, index=index, default_label=-1)
    order, ranked = ranked_neighbors(points, queries)
    np.testing.assert_array_equal(
        engine.run({"input": queries})["_debugNearestFeatureIndices"], order[:, :k]
    )
    # Where a duplicate straddles the k-th place, sklearn may keep either copy.
    comparable = ranked[:, k - 1] < ranked[:, k]
    assert comparable.sum() >= 100
    for algorithm in ("brute", "kd_tree"):
        reference = sklearn_model(points, labels, k, weighting, algorithm)
        assert_matches_sklearn(engine, reference, queries, k, comparable)


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    data = load_digits()
    points = data.data.astype(np.float32)
    return (
        points[:1500],
        data.target[:1500],
        points[1500:],
        *ranked_neighbors(points[:1500], points[1500:]),
    )


@pytest.mark.parametrize("index", INDEXES)
@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("k", [1, 3, 7])
@needs("sklearn")
def test_digits_match_sklearn_and_ties_follow_sample_order(digits, index, weighting, k):
    points, labels, queries, order, ranked = digits
    string_labels = [f"digit{label}" for label in labels]
    engine = engine_for(points, string_labels, k=k, weighting=weighting, index=index)
    # Integer pixels: exact float64 distances, and many ties at the k-th neighbour. Compare
    # with sklearn where the k nearest are unambiguous; everywhere, check the pinned order.
    comparable = ranked[:, k - 1] < ranked[:, k]
    assert comparable.mean() > 0.5
    out = engine.run({"input": queries})
    np.testing.assert_array_equal(out["_debugNearestFeatureIndices"], order[:, :k])
    if index == "kd_tree":  # D = 64 answers with the linear kernel; the tree must agree
        engine.index = KdTreeIndex(30, max_tree_dimensions=None)
        tree_out = engine.run({"input": queries})
        assert engine.index.tree_ is not None
        np.testing.assert_array_equal(tree_out["_debugNearestFeatureIndices"], order[:, :k])
        assert tree_out["output"].tolist() == out["output"].tolist()
    np.testing.assert_array_equal(out["_debugNearestDistances"], ranked[:, :k].astype(np.float32))
    for algorithm in ("brute", "kd_tree"):
        reference = sklearn_model(points, np.array(string_labels), k, weighting, algorithm)
        assert_matches_sklearn(engine, reference, queries, k, comparable)


# --------------------------------------------------------------------------- the tie rule


@pytest.mark.parametrize("index", INDEXES)
def test_equidistant_samples_the_earlier_sample_is_nearer(index):
    points = np.array([[1.0, 0.0], [-1.0, 0.0]], np.float32)
    query = {"input": np.zeros((1, 2), np.float32)}
    assert engine_for(points, ["b", "a"], k=1, index=index).run(query)["output"][0] == "b"
    assert engine_for(points[::-1], ["a", "b"], k=1, index=index).run(query)["output"][0] == "a"
    out = engine_for(points, ["b", "a"], k=2, index=index).run(query)
    assert out["output"][0] == "b"
    assert out["outputProbs"][0] == {"b": 0.5, "a": 0.5}


@pytest.mark.parametrize("index", INDEXES)
@pytest.mark.parametrize("weighting", WEIGHTINGS)
def test_tied_labels_go_to_the_label_of_the_nearest_neighbour(index, weighting):
    # Uniform votes 2-2 between "far" (samples 0, 1 at 3 and 4) and "near" (samples 2, 3 at 1
    # and 5); "near" owns the nearest neighbour, so it wins although "far" was added first.
    points = np.array([[3.0], [4.0], [1.0], [5.0]], np.float32)
    engine = engine_for(points, ["far", "far", "near", "near"], k=4, index=index)
    out = engine.run({"input": np.zeros((1, 1), np.float32)})
    assert out["output"][0] == "near"
    assert out["outputProbs"][0] == {"far": 0.5, "near": 0.5}
    # Inverse distance: duplicates with different labels tie exactly; the first added wins.
    duplicate = np.array([[2.0], [2.0], [7.0]], np.float32)
    engine = engine_for(duplicate, ["y", "x", "x"], k=2, weighting=weighting, index=index)
    assert engine.run({"input": np.zeros((1, 1), np.float32)})["output"][0] == "y"


def test_fewer_samples_than_k_uses_all_and_probabilities_cover_every_label():
    points = np.array([[0.0], [1.0], [10.0], [11.0]], np.float32)
    engine = engine_for(points, ["a", "a", "b", "c"], k=3, weighting="inverse_distance")
    out = engine.run({"input": np.array([[0.0]], np.float32)})
    weights = {"a": 1 / 1e-6 + 1 / (1 + 1e-6), "b": 1 / (100 + 1e-6), "c": 0.0}
    total = sum(weights.values())
    assert list(out["outputProbs"][0]) == ["a", "b", "c"]
    for label, weight in weights.items():
        assert out["outputProbs"][0][label] == pytest.approx(weight / total, rel=1e-12)
    few = engine_for(points[:2], ["a", "b"], k=5, weighting="uniform")
    out = few.run({"input": np.array([[0.9]], np.float32)})
    assert out["outputProbs"][0] == {"a": 0.5, "b": 0.5}
    assert out["_debugNearestFeatureIndices"].tolist() == [[1, 0]]


# --------------------------------------------------------------------------- labels and k


@pytest.mark.parametrize("default", ["unknown", -7])
def test_empty_model_predicts_the_default_label_with_probability_one(default):
    engine = KnnEngine.compile(
        builders.knn_classifier(dims=3, default_label=default), parameters={}
    )
    out = engine.run({"input": np.ones((2, 3), np.float32)})
    assert out["output"].tolist() == [default, default]
    assert out["outputProbs"] == [{default: 1.0}, {default: 1.0}]


def test_int64_labels_come_back_as_int64_with_int_keys():
    points = np.array([[0.0, 0.0], [5.0, 5.0]], np.float32)
    engine = engine_for(points, [10, 20], k=1, default_label=0)
    out = engine.run({"input": np.array([[4.0, 4.0], [0.5, 0.0]], np.float32)})
    assert out["output"].dtype == np.int64 and out["output"].tolist() == [20, 10]
    assert out["outputProbs"][0] == {10: 0.0, 20: 1.0}
    assert out["_debugNearestLabels"].tolist() == [[20], [10]]


@pytest.mark.parametrize("key", ["numberOfNeighbors", ParameterKey.NUMBER_OF_NEIGHBORS])
def test_number_of_neighbors_override_within_the_allowed_values(key):
    points = np.arange(10, dtype=np.float32)[:, None]
    spec = builders.knn_classifier(points, list("aaaaabbbbb"), k=5, k_set={1, 3, 5})
    assert KnnEngine.compile(spec, parameters={}).k == 5
    engine = KnnEngine.compile(spec, parameters={key: 3})
    assert engine.k == 3
    assert engine.run({"input": np.array([[0.0]], np.float32)})["outputProbs"][0]["a"] == 1.0


@pytest.mark.parametrize(
    "bounds, value, allowed",
    [
        ({"k_range": (2, 8)}, 1, "the range [2, 8]"),
        ({"k_range": (2, 8)}, 9, "the range [2, 8]"),
        ({"k_set": {3, 5}}, 4, "one of {"),
        ({"k_range": (2, 8)}, 2.5, None),
    ],
)
def test_number_of_neighbors_override_outside_the_allowed_values_is_refused(bounds, value, allowed):
    spec = builders.knn_classifier(dims=2, k=3 if "k_set" in bounds else 4, **bounds)
    with pytest.raises(ParameterError) as info:
        KnnEngine.compile(spec, parameters={"numberOfNeighbors": value})
    message = str(info.value)
    assert "numberOfNeighbors" in message and repr(value) in message
    if allowed:
        assert allowed in message


# --------------------------------------------------------------------------- inputs


def test_embeddings_with_size_one_axes_are_flattened_and_others_refused():
    rng = np.random.default_rng(0)
    points = rng.standard_normal((30, 4)).astype(np.float32)
    engine = engine_for(points, ["p"] * 15 + ["q"] * 15, k=3)
    queries = rng.standard_normal((5, 4)).astype(np.float32)
    want = engine.run({"input": queries})
    for shaped in (queries.reshape(5, 4, 1, 1), queries.reshape(5, 1, 4), queries.astype(float)):
        got = engine.run({"input": shaped})
        assert got["output"].tolist() == want["output"].tolist()
        assert got["outputProbs"] == want["outputProbs"]
    with pytest.raises(FeatureError, match=r"shape \(N, 4\).*got \(5, 2, 2\)"):
        engine.run({"input": queries.reshape(5, 2, 2)})
    with pytest.raises(FeatureError, match=r"got \(5, 3\)"):
        engine.run({"input": queries[:, :3]})
    with pytest.raises(FeatureError, match="missing input feature 'input'"):
        engine.run({"image": queries})
    with pytest.raises(FeatureError, match="NaN or infinite"):
        engine.run({"input": np.full((1, 4), np.nan, np.float32)})


def test_non_knn_models_and_broken_knn_specs_are_refused():
    with pytest.raises(UnsupportedModelError, match="got 'neuralNetwork'"):
        KnnEngine.compile(builders.base_nn(), parameters={})
    spec = builders.knn_classifier(np.zeros((2, 3)), ["a", "b"], k=1)
    spec.kNearestNeighborsClassifier.stringClassLabels.vector.append("c")
    with pytest.raises(ValidationError, match='Unexpected number of labels "3" for the given'):
        KnnEngine.compile(spec, parameters={})
    spec = builders.knn_classifier(np.zeros((2, 3)), ["a", "b"], k=1)
    spec.description.output[1].type.multiArrayType.shape.append(2)
    with pytest.raises(UnsupportedModelError, match="'outputProbs' is a multiArrayType"):
        KnnEngine.compile(spec, parameters={})
    spec = builders.knn_classifier(np.zeros((2, 3)), ["a", "b"], k=1, index="kd_tree")
    spec.kNearestNeighborsClassifier.nearestNeighborsIndex.singleKdTreeIndex.leafSize = 0
    with pytest.raises(ValidationError, match="requires leaf size to be a positive integer"):
        KnnEngine.compile(spec, parameters={})
