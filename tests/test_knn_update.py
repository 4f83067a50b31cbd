"""kNN update semantics: validate every example first, append all or none, write back."""

from __future__ import annotations

import math

import numpy as np
import pytest

import updatable
from runtime.model.engines.knn import KnnEngine
from runtime.training.knn_update import apply, collect_examples, write_samples
from runtime.training.providers import ArrayBatchProvider, BatchProvider
from tests import builders
from updatable.errors import KnnUpdateError

DIMS = 4


def knn_engine(index="linear", default_label="none", n=6, seed=0, **kwargs):
    rng = np.random.default_rng(seed)
    points = rng.standard_normal((n, DIMS)).astype(np.float32)
    cast = str if isinstance(default_label, str) else int
    labels = [cast(i % 3) for i in range(n)]
    spec = builders.knn_classifier(
        points,
        labels,
        k=3,
        index=index,
        default_label=default_label,
        debug_outputs=True,
        **kwargs,
    )
    return spec, KnnEngine.compile(spec, parameters={})


def examples(n=5, seed=1, label=lambda i: f"new{i % 2}"):
    rng = np.random.default_rng(seed)
    return [
        {"input": rng.standard_normal(DIMS).astype(np.float32), "output": label(i)}
        for i in range(n)
    ]


def update(engine, provider):
    """What the update task does: collect (may raise), then append."""
    points, labels = collect_examples(provider, engine)
    return apply(engine, points, labels)


QUERIES = {"input": np.random.default_rng(9).standard_normal((20, DIMS)).astype(np.float32)}


def snapshot(engine):
    return engine.store.count, engine.run(QUERIES)["_debugNearestFeatureIndices"].tolist()


class _Rows(BatchProvider):
    """Returns whatever it holds, unchecked (ArrayBatchProvider refuses non-dict rows)."""

    def __init__(self, rows):
        self.rows = rows

    @property
    def count(self):
        return len(self.rows)

    def features(self, index):
        return self.rows[index]


class GappyProvider(_Rows):
    """Returns no feature provider (Core ML: nil) at one index."""

    def __init__(self, rows, missing):
        super().__init__(rows)
        self.missing = missing

    def features(self, index):
        return None if index == self.missing else super().features(index)


def test_examples_are_appended_after_the_samples_in_provider_order():
    _, engine = knn_engine()
    rows = examples(5)
    assert update(engine, ArrayBatchProvider(rows)) == 5
    assert engine.store.count == 11
    np.testing.assert_array_equal(engine.store.points[6:], [row["input"] for row in rows])
    assert engine.store.label_values()[6:] == [row["output"] for row in rows]
    # A query on an added point finds it.
    out = engine.run({"input": rows[3]["input"][None, :]})
    assert out["_debugNearestFeatureIndices"][0, 0] == 9


@pytest.mark.parametrize(
    "bad, message",
    [
        (
            {"input": np.zeros((1, DIMS), np.float32)},
            "Shape of training data point 2 MLMultiArray is [1, 4], expected [4]",
        ),
        (
            {"input": np.zeros(DIMS + 1, np.float32)},
            "Shape of training data point 2 MLMultiArray is [5], expected [4]",
        ),
        (
            {"input": np.float32(1.0)},
            "Missing MLMultiArrayValue for feature named input (training example 2: feature "
            "'input' is a float32)",
        ),
        (
            {"image": np.zeros(DIMS, np.float32)},
            "Missing MLMultiArrayValue for feature named input (training example 2: no feature "
            "named 'input'; it has ['image', 'output'])",
        ),
        (
            {"output": 2.5},
            "Label type must be one of MLFeatureTypeString or MLFeatureTypeInt64 (training "
            "example 2: feature 'output' is a float)",
        ),
        (
            {"output": 7},
            "Label of training data point 2 is Int64 7, expected String: the model's class "
            "labels are String",
        ),
    ],
)
@pytest.mark.parametrize("index", ["linear", "kd_tree"])
def test_a_bad_example_in_the_middle_fails_and_nothing_is_appended(bad, message, index):
    _, engine = knn_engine(index)
    before = snapshot(engine)
    rows = examples(5)
    rows[2] = {**rows[2], **bad}
    if "image" in bad:
        del rows[2]["input"]
    with pytest.raises(KnnUpdateError) as info:
        update(engine, ArrayBatchProvider(rows))
    assert str(info.value) == message
    assert info.value.index == 2
    assert snapshot(engine) == before


def test_nil_feature_provider_names_its_index():
    _, engine = knn_engine()
    with pytest.raises(KnnUpdateError, match=r"^Received nil MLFeatureProvider for index 3$"):
        update(engine, GappyProvider(examples(5), missing=3))
    assert engine.store.count == 6


def test_an_example_that_is_not_a_dict_is_named():
    _, engine = knn_engine()
    rows = [*examples(2), [0.0] * DIMS]
    with pytest.raises(KnnUpdateError, match=r"^training example 2 is a list; a batch provider"):
        update(engine, _Rows(rows))
    assert engine.store.count == 6


def test_int64_models_take_int_labels_and_refuse_strings():
    _, engine = knn_engine(default_label=-1)
    update(engine, ArrayBatchProvider(examples(3, label=lambda i: np.int64(40 + i))))
    assert engine.store.label_values()[-3:] == [40, 41, 42]
    with pytest.raises(KnnUpdateError, match="point 1 is String 'x', expected Int64"):
        update(engine, ArrayBatchProvider(examples(3, label=lambda i: "x" if i else 1)))
    assert engine.store.count == 9


def test_lists_and_integer_arrays_are_multiarrays():
    _, engine = knn_engine()
    rows = [
        {"input": [1, 2, 3, 4], "output": "ints"},
        {"input": np.arange(DIMS, dtype=np.int64), "output": "ints"},
    ]
    update(engine, ArrayBatchProvider(rows))
    np.testing.assert_array_equal(engine.store.points[-2:], [[1, 2, 3, 4], [0, 1, 2, 3]])


def test_collect_accepts_the_training_info_alone():
    _, engine = knn_engine()
    points, labels = collect_examples(ArrayBatchProvider(examples(2)), engine.training_info)
    assert points.shape == (2, DIMS) and labels == ["new0", "new1"]
    assert engine.store.count == 6  # collecting appends nothing


@pytest.mark.parametrize("index", ["linear", "kd_tree"])
def test_write_samples_round_trips_through_save_and_load(tmp_path, index):
    spec, engine = knn_engine(index)
    original = spec.SerializeToString()
    update(engine, ArrayBatchProvider(examples(7)))
    written = write_samples(spec, engine)
    assert spec.SerializeToString() == original  # the input spec is left alone
    path = tmp_path / "updated.mlmodel"
    updatable.save(written, path)
    fresh = KnnEngine.compile(updatable.load(path), parameters={})
    assert fresh.store.count == 13
    got, want = fresh.run(QUERIES), engine.run(QUERIES)
    assert got["output"].tolist() == want["output"].tolist()
    assert got["outputProbs"] == want["outputProbs"]
    np.testing.assert_array_equal(got["_debugNearestDistances"], want["_debugNearestDistances"])
    knn = written.kNearestNeighborsClassifier
    assert list(knn.stringClassLabels.vector) == engine.store.label_values()
    assert len(knn.nearestNeighborsIndex.floatSamples) == 13


def test_write_samples_reaches_the_knn_at_the_end_of_a_pipeline():
    from coremltools.models import datatypes
    from coremltools.models.pipeline import Pipeline

    knn_spec, engine = knn_engine(n=3)
    extractor = builders.base_nn()  # input Array(3) -> output Array(3)
    pipeline = Pipeline([("input", datatypes.Array(3))], [("output", datatypes.String())])
    pipeline.add_model(extractor)
    pipeline.add_model(knn_spec)
    update(engine, ArrayBatchProvider(examples(2)))
    written = write_samples(pipeline.spec, engine)
    knn = written.pipeline.models[-1].kNearestNeighborsClassifier
    assert len(knn.nearestNeighborsIndex.floatSamples) == 5
    assert list(knn.stringClassLabels.vector)[-2:] == ["new0", "new1"]
    assert written.pipeline.models[0] == extractor


@pytest.mark.parametrize("index", ["linear", "kd_tree"])
def test_a_thousand_single_example_updates_stay_amortised(index):
    _, engine = knn_engine(index, n=3)
    rows = examples(1000, seed=5, label=lambda i: f"user{i % 4}")
    for i, row in enumerate(rows):  # the app pattern: one example per update, query between
        update(engine, ArrayBatchProvider([row]))
        if i % 10 == 0:
            engine.run({"input": row["input"][None, :]})
    assert engine.store.count == 1003
    assert engine.store.reallocations_ <= math.ceil(math.log2(1003 / 16)) + 2
    if index == "kd_tree":
        assert engine.index.rebuilds_ <= math.ceil(math.log(1003 / 3) / math.log(1.125)) + 2
    # The same samples appended at once predict identically.
    _, batch_engine = knn_engine(index, n=3)
    update(batch_engine, ArrayBatchProvider(rows))
    assert engine.run(QUERIES)["outputProbs"] == batch_engine.run(QUERIES)["outputProbs"]
    assert batch_engine.store.reallocations_ == 2  # one at load, one for the whole batch
