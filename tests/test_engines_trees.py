"""Tree-ensemble engine against a reference that walks each tree of each example recursively,
over random ensembles with every branch mode, missing values (NaN and absent optional inputs),
base values and every post-evaluation transform, as classifiers (binary, multiclass, without
labels) and regressors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import runtime
from tests.builders import classic
from tests.builders._common import datatypes
from updatable.errors import FeatureError, UnsupportedModelError, ValidationError

NODE = classic.M.TreeEnsembleParameters.TreeNode
TRANSFORMS = (
    "NoTransform",
    "Classification_SoftMax",
    "Regression_Logistic",
    "Classification_SoftMaxWithZeroClassReference",
)
COMPARE = {
    "BranchOnValueLessThanEqual": lambda x, t: x <= t,
    "BranchOnValueLessThan": lambda x, t: x < t,
    "BranchOnValueGreaterThanEqual": lambda x, t: x >= t,
    "BranchOnValueGreaterThan": lambda x, t: x > t,
    "BranchOnValueEqual": lambda x, t: x == t,
    "BranchOnValueNotEqual": lambda x, t: x != t,
}


def reference_raw(params, x):
    """Base values plus, per tree, the leaf reached by recursive descent from the root."""
    nodes = {(n.treeId, n.nodeId): n for n in params.nodes}
    children = {
        (n.treeId, c)
        for n in params.nodes
        if n.nodeBehavior != NODE.LeafNode
        for c in (n.trueChildNodeId, n.falseChildNodeId)
    }
    raw = list(params.basePredictionValue) or [0.0] * params.numPredictionDimensions
    for key in sorted(set(nodes) - children):
        node = nodes[key]
        while node.nodeBehavior != NODE.LeafNode:
            value = x[node.branchFeatureIndex]
            if math.isnan(value):
                goes_true = node.missingValueTracksTrueChild
            else:
                mode = NODE.TreeNodeBehavior.Name(node.nodeBehavior)
                goes_true = COMPARE[mode](value, node.branchFeatureValue)
            child = node.trueChildNodeId if goes_true else node.falseChildNodeId
            node = nodes[(node.treeId, child)]
        for info in node.evaluationInfo:
            raw[info.evaluationIndex] += info.evaluationValue
    return raw


def transformed(raw, transform):
    if transform == "NoTransform":
        return raw
    if transform == "Regression_Logistic":
        return [1 / (1 + math.exp(-r)) for r in raw]
    scores = list(raw)
    if transform == "Classification_SoftMaxWithZeroClassReference":
        if len(raw) == 1:
            return [1 / (1 + math.exp(-raw[0]))]
        scores = [0.0, *raw[1:]]
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    return [e / sum(exps) for e in exps]


def inputs_with_missing(rng, count, width):
    """Small integers (so that == and != take both branches), with some NaN."""
    rows = rng.integers(-3, 4, size=(count, width)).astype(np.float64)
    rows[rng.random(rows.shape) < 0.1] = np.nan
    return rows


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize(
    ("dims", "labels"), [(1, ["no", "yes"]), (3, ["a", "b", "c"]), (1, None), (4, None)]
)
def test_classifier_matches_the_reference(transform, dims, labels):
    rng = np.random.default_rng(dims * 7 + len(transform))
    names = labels or list(range(2 if dims == 1 else dims))
    spec = classic.random_tree_ensemble(rng, width=5, dims=dims, trees=6, depth=4, labels=names)
    params = spec.treeEnsembleClassifier
    params.postEvaluationTransform = classic.M.TreeEnsemblePostEvaluationTransform.Value(transform)
    if labels is None:
        params.ClearField("int64ClassLabels")
    rows = inputs_with_missing(rng, 40, 5)
    results = runtime.Model.load(spec).predict_batch({"features": rows})
    for x, result in zip(rows, results, strict=True):
        values = transformed(reference_raw(params.treeEnsemble, x), transform)
        expected = [1 - values[0], values[0]] if dims == 1 else values
        got = [result["classProbability"][name] for name in names]
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)
        assert result["classLabel"] == names[int(np.argmax(expected))]


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("dims", [1, 3])
def test_regressor_matches_the_reference(transform, dims):
    rng = np.random.default_rng(dims + len(transform))
    spec = classic.random_tree_ensemble(rng, width=3, dims=dims, trees=4, depth=5)
    params = spec.treeEnsembleRegressor
    params.postEvaluationTransform = classic.M.TreeEnsemblePostEvaluationTransform.Value(transform)
    rows = inputs_with_missing(rng, 30, 3)
    results = runtime.Model.load(spec).predict_batch({"features": rows})
    for x, result in zip(rows, results, strict=True):
        expected = transformed(reference_raw(params.treeEnsemble, x), transform)
        np.testing.assert_allclose(np.atleast_1d(result["value"]), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("mode", sorted(COMPARE))
@pytest.mark.parametrize("missing_true", [False, True])
def test_each_branch_mode_and_missing_direction(mode, missing_true):
    builder = classic.TreeEnsembleRegressor([("x", datatypes.Double())], "y")
    builder.set_default_prediction_value(0.0)
    builder.add_branch_node(0, 0, 0, 1.0, mode, 1, 2, missing_value_tracks_true_child=missing_true)
    builder.add_leaf_node(0, 1, 10.0)
    builder.add_leaf_node(0, 2, 20.0)
    model = runtime.Model.load(builder.spec)
    values = [0.0, 1.0, 2.0, math.nan]
    got = [result["y"] for result in model.predict_batch({"x": values})]
    expected = [10.0 if COMPARE[mode](v, 1.0) else 20.0 for v in values[:3]]
    assert got == [*expected, 10.0 if missing_true else 20.0]


def test_an_absent_optional_input_is_a_missing_value():
    builder = classic.TreeEnsembleRegressor(
        [("x", datatypes.Double()), ("z", datatypes.Double())], "y"
    )
    builder.set_default_prediction_value(0.5)
    builder.add_branch_node(
        0, 0, 1, 0.0, "BranchOnValueLessThan", 1, 2, missing_value_tracks_true_child=True
    )
    builder.add_leaf_node(0, 1, 1.0)
    builder.add_leaf_node(0, 2, 2.0)
    builder.spec.description.input[1].type.isOptional = True
    model = runtime.Model.load(builder.spec)
    assert model.predict({"x": 3.0}) == {"y": 1.5}
    assert model.predict({"x": 3.0, "z": 4.0}) == {"y": 2.5}


def test_a_tree_reading_past_its_inputs_is_refused_when_compiled():
    builder = classic.TreeEnsembleRegressor([("x", datatypes.Array(2))], "y")
    builder.set_default_prediction_value(0.0)
    builder.add_branch_node(0, 0, 2, 0.0, "BranchOnValueLessThan", 1, 2)
    builder.add_leaf_node(0, 1, 1.0)
    builder.add_leaf_node(0, 2, 2.0)
    with pytest.raises(
        ValidationError, match=r"reads feature index 2, but its inputs \['x'\] hold 2"
    ):
        runtime.Model.load(builder.spec)
    builder.spec.description.input[0].type.multiArrayType.shape[0] = 3
    model = runtime.Model.load(builder.spec)
    with pytest.raises(FeatureError, match="holds 2 values per example; its description"):
        model.engine.run({"x": np.zeros((1, 2))})


def test_structural_errors_get_core_mls_collected_message():
    spec = classic.random_tree_ensemble(np.random.default_rng(0), width=2, dims=1, trees=1, depth=1)
    spec.treeEnsembleRegressor.treeEnsemble.numPredictionDimensions = 0
    with pytest.raises(
        ValidationError,
        match=r"\(TE1 at treeEnsembleRegressor.treeEnsemble\): "
        r"Errors encountered during processing tree model:\n\n  FATAL: Given",
    ):
        runtime.Model.load(spec)


def test_classifier_label_must_have_the_labels_type():
    spec = classic.random_tree_ensemble(np.random.default_rng(0), width=2, dims=1, labels=[0, 1])
    spec.treeEnsembleClassifier.ClearField("int64ClassLabels")
    spec.description.output[0].type.stringType.SetInParent()
    with pytest.raises(
        UnsupportedModelError, match=r"must be an output of the labels' type \(int64Type\)"
    ):
        runtime.Model.load(spec)


def test_regressor_output_must_hold_its_dimensions():
    spec = classic.random_tree_ensemble(np.random.default_rng(0), width=2, dims=3)
    spec.description.output[0].type.multiArrayType.shape[0] = 2
    with pytest.raises(UnsupportedModelError, match="predicts 3 value"):
        runtime.Model.load(spec)


def test_string_inputs_are_refused():
    spec = classic.random_tree_ensemble(np.random.default_rng(0), width=2, dims=1)
    spec.description.input[0].type.stringType.SetInParent()
    with pytest.raises(UnsupportedModelError, match="input 'features' is a String"):
        runtime.Model.load(spec)


def test_large_forest_runs_vectorized():
    """120 trees of depth 7 over 500 examples: one walk, no per-example loop."""
    rng = np.random.default_rng(11)
    spec = classic.random_tree_ensemble(
        rng, width=10, dims=3, trees=120, depth=7, labels=["a", "b", "c"], missing=False
    )
    rows = rng.integers(-3, 4, size=(500, 10)).astype(np.float64)
    model = runtime.Model.load(spec)
    engine = model.engine
    raw = engine.trees.raw(rows)
    params = spec.treeEnsembleClassifier.treeEnsemble
    for i in rng.choice(500, 5, replace=False):
        np.testing.assert_allclose(raw[i], reference_raw(params, rows[i]), rtol=1e-12)
