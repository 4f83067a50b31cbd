"""Create ML style tabular pipelines, built with coremltools' builders: named columns through
feature engineering into a classic model, checked against the same computation in numpy.

Create ML writes tabular classifiers and regressors as pipelines of this shape: categorical
columns one-hot encoded, missing values imputed, numbers scaled, everything vectorized, then a
GLM or a tree ensemble."""

from __future__ import annotations

import numpy as np
import pytest
from coremltools.models.pipeline import PipelineClassifier, PipelineRegressor

import runtime
import updatable
from tests.builders import classic
from tests.builders._common import datatypes

COLORS = ["red", "green", "blue"]


def test_feature_vectorizer_and_glm_classifier():
    rng = np.random.default_rng(0)
    columns = [
        ("age", datatypes.Double()),
        ("visits", datatypes.Int64()),
        ("scores", datatypes.Array(3)),
    ]
    labels = ["low", "mid", "high"]
    weights, offsets = rng.normal(size=(3, 5)), rng.normal(size=3)
    pipeline = PipelineClassifier(columns, labels)
    pipeline.add_model(classic.feature_vectorizer(columns))
    pipeline.add_model(classic.glm_classifier(weights, offsets, labels))
    assert updatable.validate(pipeline.spec) == []
    model = runtime.Model.load(pipeline.spec)
    age, visits = rng.normal(40, 10, 25), rng.integers(0, 9, 25)
    scores = rng.normal(size=(25, 3))
    results = model.predict_batch({"age": age, "visits": visits, "scores": scores})
    rows = np.column_stack([age, visits, scores.astype(np.float32)])
    each = 1 / (1 + np.exp(-(rows @ weights.T + offsets)))
    expected = each / each.sum(axis=1, keepdims=True)
    got = [[r["classProbability"][label] for label in labels] for r in results]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert [r["classLabel"] for r in results] == [labels[i] for i in expected.argmax(axis=1)]


def tabular_pipeline(trees):
    """color (String) -> one-hot (sparse); size (optional Double) -> imputed; weight (Double)
    -> scaled; all vectorized (3 + 1 + 1 values) -> ``trees``."""
    inputs = [
        ("color", datatypes.String()),
        ("size", datatypes.Double()),
        ("weight", datatypes.Double()),
    ]
    encoder = classic.one_hot_encoder(COLORS, sparse=True, unknown="IgnoreUnknown", name="color")
    imputer = classic.imputer(datatypes.Double(), "imputedDoubleValue", 2.5)
    imputer.description.input[0].name, imputer.description.output[0].name = "size", "size_filled"
    scaler = classic.scaler(-70.0, 0.1, source=datatypes.Double())
    scaler.description.input[0].name, scaler.description.output[0].name = "weight", "weight_scaled"
    vectorizer = classic.feature_vectorizer(
        [
            ("encoded", datatypes.Dictionary(datatypes.Int64()), 3),
            ("size_filled", datatypes.Double()),
            ("weight_scaled", datatypes.Double()),
        ]
    )
    if trees.WhichOneof("Type") == "treeEnsembleClassifier":
        pipeline = PipelineClassifier(inputs, ["small", "large"])
    else:
        pipeline = PipelineRegressor(inputs, [("value", datatypes.Double())])
    for stage in (encoder, imputer, scaler, vectorizer, trees):
        pipeline.add_model(stage)
    pipeline.spec.description.input[1].type.isOptional = True  # the imputer's input is too
    return pipeline.spec


def table(rng, count):
    color = [COLORS[i] if i < 3 else "purple" for i in rng.integers(0, 4, count)]
    size = rng.choice([np.nan, 1.0, 2.0, 3.0, 4.0], count)
    weight = rng.uniform(50, 90, count)
    return color, size, weight


def reference_rows(color, size, weight):
    onehot = np.array([[1.0 if c == name else 0.0 for name in COLORS] for c in color])
    filled = np.where(np.isnan(size), 2.5, size)
    return np.column_stack([onehot, filled, 0.1 * (weight - 70.0)])


@pytest.mark.parametrize(
    "transform", ["Regression_Logistic", "Classification_SoftMaxWithZeroClassReference"]
)
def test_one_hot_imputer_scaler_and_boosted_trees(transform):
    rng = np.random.default_rng(4)
    trees = classic.random_tree_ensemble(
        rng, width=5, dims=1, trees=8, depth=3, labels=["small", "large"], missing=False
    )
    trees.treeEnsembleClassifier.postEvaluationTransform = (
        classic.M.TreeEnsemblePostEvaluationTransform.Value(transform)
    )
    spec = tabular_pipeline(trees)
    assert updatable.validate(spec) == []
    color, size, weight = table(rng, 60)
    results = runtime.Model.load(spec).predict_batch(
        {"color": color, "size": size, "weight": weight}
    )
    rows = reference_rows(color, size, weight)
    raw = runtime.Model.load(trees).engine.trees.raw(rows)[:, 0]
    positive = 1 / (1 + np.exp(-raw))
    got = [r["classProbability"]["large"] for r in results]
    np.testing.assert_allclose(got, positive, rtol=1e-12)
    assert [r["classLabel"] for r in results] == ["large" if p > 0.5 else "small" for p in positive]


def test_tree_regressor_pipeline_with_an_absent_optional_column():
    rng = np.random.default_rng(5)
    trees = classic.random_tree_ensemble(rng, width=5, dims=1, trees=5, depth=3, missing=False)
    spec = tabular_pipeline(trees)
    assert updatable.validate(spec) == []
    model = runtime.Model.load(spec)
    color, _, weight = table(rng, 10)
    results = model.predict_batch({"color": color, "weight": weight})  # no "size" at all
    rows = reference_rows(color, np.full(10, np.nan), weight)
    expected = runtime.Model.load(trees).engine.trees.raw(rows)[:, 0]
    np.testing.assert_allclose([r["value"] for r in results], expected, rtol=1e-12)


def test_the_pipeline_survives_a_save_and_load(tmp_path):
    rng = np.random.default_rng(6)
    trees = classic.random_tree_ensemble(
        rng, width=5, dims=1, trees=3, labels=["small", "large"], missing=False
    )
    spec = tabular_pipeline(trees)
    updatable.save(spec, tmp_path / "Tabular.mlmodel")
    model = runtime.Model.load(tmp_path / "Tabular.mlmodel")
    example = {"color": "blue", "size": 3.0, "weight": 80.0}
    assert model.predict(example) == runtime.Model.load(spec).predict(example)
