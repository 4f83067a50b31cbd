"""GLM and SVM engines against references written example by example (plain Python loops over
the proto's formulas and libsvm's prediction code), over random parameters and every setting:
each encoding and transform, each kernel, dense and sparse support vectors, probabilities."""

from __future__ import annotations

import math

import numpy as np
import pytest

import runtime
from tests.builders import classic
from tests.builders._common import datatypes
from updatable.errors import FeatureError, UnsupportedModelError, ValidationError


def _logistic(x):
    return 1.0 / (1.0 + math.exp(-x))


def _probit(x):
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def glm_reference(x, weights, offsets, classes, encoding, transform):
    """Class probabilities of one example (GLMClassifier.proto, as the engine documents it)."""
    g = _logistic if transform == "Logit" else _probit
    scores = [float(np.dot(w, x)) + b for w, b in zip(weights, offsets, strict=True)]
    if classes == 2:
        return [1.0 - g(scores[0]), g(scores[0])]
    if encoding == "ReferenceClass":
        exps = [1.0] + [math.exp(s) for s in scores]
        return [e / sum(exps) for e in exps]
    each = [g(s) for s in scores]
    return [e / sum(each) for e in each]


def predict(spec, rows, name="features"):
    return runtime.Model.load(spec).predict_batch({name: rows})


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(
    ("classes", "encoding", "transform"),
    [
        (2, "OneVsRest", "Logit"),
        (2, "OneVsRest", "Probit"),
        (2, "ReferenceClass", "Logit"),
        (2, "ReferenceClass", "Probit"),
        (3, "OneVsRest", "Logit"),
        (5, "OneVsRest", "Logit"),
        (3, "ReferenceClass", "Logit"),
        (6, "ReferenceClass", "Logit"),
    ],
)
def test_glm_classifier_matches_the_reference(seed, classes, encoding, transform):
    rng = np.random.default_rng(seed)
    width = int(rng.integers(1, 7))
    rows_count = 1 if classes == 2 else classes - (encoding == "ReferenceClass")
    weights, offsets = rng.normal(size=(rows_count, width)), rng.normal(size=rows_count)
    labels = [f"class{i}" for i in range(classes)] if seed % 2 else list(range(10, 10 + classes))
    spec = classic.glm_classifier(weights, offsets, labels, encoding=encoding, transform=transform)
    rows = rng.normal(scale=2.0, size=(int(rng.integers(1, 20)), width)).astype(np.float32)
    for x, result in zip(rows, predict(spec, rows), strict=True):
        expected = glm_reference(x.astype(float), weights, offsets, classes, encoding, transform)
        got = [result["classProbability"][label] for label in labels]
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
        assert result["classLabel"] == labels[int(np.argmax(expected))]


def test_glm_reads_mixed_inputs_in_description_order():
    """Double, Int64 and multiArray inputs are one row, in the order they are declared."""
    inputs = [("a", datatypes.Double()), ("b", datatypes.Array(2)), ("c", datatypes.Int64())]
    weights = np.array([[1.0, 10.0, 100.0, 1000.0]])
    spec = classic.glm_regressor(weights[0], 0.25, inputs=inputs)
    result = runtime.Model.load(spec).predict({"a": 1.0, "b": np.array([2.0, 3.0]), "c": 4})
    assert result["value"] == pytest.approx(1 + 20 + 300 + 4000 + 0.25)


@pytest.mark.parametrize("transform", ["NoTransform", "Logit", "Probit"])
def test_glm_regressor_matches_the_reference(transform):
    rng = np.random.default_rng(7)
    weights, offset = rng.normal(size=5), float(rng.normal())
    spec = classic.glm_regressor(weights, offset, transform=transform)
    rows = rng.normal(size=(12, 5)).astype(np.float32)
    link = {"NoTransform": lambda s: s, "Logit": _logistic, "Probit": _probit}[transform]
    for x, result in zip(rows, predict(spec, rows), strict=True):
        expected = link(float(np.dot(weights, x.astype(float))) + offset)
        assert result["value"] == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_glm_weights_of_the_wrong_width_are_refused_when_compiled():
    spec = classic.glm_classifier(np.ones((3, 4)), [0, 0, 0], ["a", "b", "c"])
    spec.description.input[0].type.multiArrayType.shape[0] = 5
    with pytest.raises(ValidationError, match=r"glmClassifier: its weight rows hold 4 values"):
        runtime.Model.load(spec)


def test_glm_rejected_by_core_ml_gets_core_mls_message():
    spec = classic.glm_classifier(np.ones((3, 4)), [0, 0, 0], ["a", "b", "c"], transform="Probit")
    with pytest.raises(ValidationError) as info:
        runtime.Model.load(spec)
    assert str(info.value) == (
        "this glmClassifier model is one Core ML rejects (GC8 at "
        "glmClassifier.postEvaluationTransform): Probit post evaluation transform is only "
        "supported for binary classification"
    )


def test_glm_regressor_with_two_weight_vectors_is_refused():
    spec = classic.glm_regressor(np.ones(3), 0.0)
    spec.glmRegressor.weights.add().value.extend([1.0, 2.0, 3.0])
    spec.glmRegressor.offset.append(1.0)
    with pytest.raises(UnsupportedModelError, match="one weight vector; this one has 2"):
        runtime.Model.load(spec)


# --- SVMs: libsvm's svm_predict_values / svm_predict_probability, one example at a time -------


def kernel_value(kind, params, x, s):
    dot = float(np.dot(x, s))
    if kind == "linearKernel":
        return dot
    if kind == "rbfKernel":
        return math.exp(-params.gamma * float(np.sum((x - s) ** 2)))
    if kind == "polyKernel":
        return (params.gamma * dot + params.c) ** params.degree
    return math.tanh(params.gamma * dot + params.c)


def libsvm_decisions(svm, vectors, x):
    kind = svm.kernel.WhichOneof("kernel")
    params = getattr(svm.kernel, kind)
    values = [kernel_value(kind, params, x, s) for s in vectors]
    counts = list(svm.numberOfSupportVectorsPerClass)
    starts = [sum(counts[:i]) for i in range(len(counts))]
    decisions, p = [], 0
    for i in range(len(counts)):
        for j in range(i + 1, len(counts)):
            total = sum(
                svm.coefficients[j - 1].alpha[starts[i] + k] * values[starts[i] + k]
                for k in range(counts[i])
            )
            total += sum(
                svm.coefficients[i].alpha[starts[j] + k] * values[starts[j] + k]
                for k in range(counts[j])
            )
            decisions.append(total - svm.rho[p])
            p += 1
    return decisions


def libsvm_coupling(k, r):
    """libsvm's multiclass_probability, transcribed loop by loop."""
    q = [[0.0] * k for _ in range(k)]
    p = [1.0 / k] * k
    for t in range(k):
        for j in range(t):
            q[t][t] += r[j][t] * r[j][t]
            q[t][j] = q[j][t]
        for j in range(t + 1, k):
            q[t][t] += r[j][t] * r[j][t]
            q[t][j] = -r[j][t] * r[t][j]
    for _ in range(max(100, k)):
        qp = [sum(q[t][j] * p[j] for j in range(k)) for t in range(k)]
        pqp = sum(p[t] * qp[t] for t in range(k))
        if max(abs(qp[t] - pqp) for t in range(k)) < 0.005 / k:
            break
        for t in range(k):
            diff = (-qp[t] + pqp) / q[t][t]
            p[t] += diff
            pqp = (pqp + diff * (diff * q[t][t] + 2 * qp[t])) / (1 + diff) / (1 + diff)
            for j in range(k):
                qp[j] = (qp[j] + diff * q[t][j]) / (1 + diff)
                p[j] /= 1 + diff
    return p


def libsvm_probabilities(svm, decisions, k):
    r = [[0.0] * k for _ in range(k)]
    p = 0
    for i in range(k):
        for j in range(i + 1, k):
            f = decisions[p] * svm.probA[p] + svm.probB[p]
            value = math.exp(-f) / (1 + math.exp(-f)) if f >= 0 else 1 / (1 + math.exp(f))
            r[i][j] = min(max(value, 1e-7), 1 - 1e-7)
            r[j][i] = 1 - r[i][j]
            p += 1
    return [r[0][1], r[1][0]] if k == 2 else libsvm_coupling(k, r)


@pytest.mark.parametrize("kernel", ["linear", "rbf", "poly", "sigmoid"])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("classes", [2, 3, 5])
def test_svm_classifier_matches_libsvm(kernel, sparse, classes):
    rng = np.random.default_rng(classes * 10 + sparse)
    width = int(rng.integers(2, 6))
    labels = [f"l{i}" for i in range(classes)]
    spec, vectors = classic.svm_classifier(
        rng, width=width, labels=labels, kernel=kernel, sparse=sparse
    )
    svm = spec.supportVectorClassifier
    rows = rng.normal(size=(15, width)).astype(np.float32)
    for x, result in zip(rows, predict(spec, rows), strict=True):
        decisions = libsvm_decisions(svm, vectors, x.astype(float))
        votes = [0] * classes
        p = 0
        for i in range(classes):
            for j in range(i + 1, classes):
                votes[i if decisions[p] > 0 else j] += 1
                p += 1
        assert result["classLabel"] == labels[votes.index(max(votes))]
        expected = libsvm_probabilities(svm, decisions, classes)
        got = [result["classProbability"][label] for label in labels]
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kernel", ["linear", "rbf", "poly", "sigmoid"])
@pytest.mark.parametrize("sparse", [False, True])
def test_svm_regressor_matches_libsvm(kernel, sparse):
    rng = np.random.default_rng(3)
    spec, vectors = classic.svm_regressor(rng, width=4, count=7, kernel=kernel, sparse=sparse)
    svm = spec.supportVectorRegressor
    name = svm.kernel.WhichOneof("kernel")
    rows = rng.normal(size=(10, 4)).astype(np.float32)
    for x, result in zip(rows, predict(spec, rows), strict=True):
        values = [
            kernel_value(name, getattr(svm.kernel, name), x.astype(float), s) for s in vectors
        ]
        expected = sum(a * v for a, v in zip(svm.coefficients.alpha, values, strict=True)) - svm.rho
        assert result["value"] == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_sparse_support_vectors_may_reach_past_the_input():
    """A sparse index beyond the input meets a zero there (libsvm's sparse dot products)."""
    rng = np.random.default_rng(0)
    spec, _ = classic.svm_regressor(rng, width=2, count=1, kernel="rbf", sparse=True)
    svm = spec.supportVectorRegressor
    svm.sparseSupportVectors.vectors[0].Clear()
    for index, value in ((1, 0.5), (4, 2.0)):
        node = svm.sparseSupportVectors.vectors[0].nodes.add()
        node.index, node.value = index, value
    result = runtime.Model.load(spec).predict({"features": np.array([1.0, 1.0])})
    squared = (1.0 - 0.5) ** 2 + 1.0**2 + 0.0 + 2.0**2  # x = (1, 1, 0, 0), s = (0.5, 0, 0, 2)
    expected = svm.coefficients.alpha[0] * math.exp(-svm.kernel.rbfKernel.gamma * squared)
    assert result["value"] == pytest.approx(expected - svm.rho, rel=1e-12)


def test_svm_probabilities_need_prob_a_and_b():
    spec, _ = classic.svm_classifier(
        np.random.default_rng(0), width=2, labels=["a", "b", "c"], probability=False
    )
    with pytest.raises(UnsupportedModelError, match=r"no probA / probB"):
        runtime.Model.load(spec)
    spec.description.ClearField("predictedProbabilitiesName")
    del spec.description.output[1]
    result = runtime.Model.load(spec).predict({"features": np.zeros(2)})
    assert list(result) == ["classLabel"]


def test_dense_support_vectors_of_the_wrong_width_fail_when_compiled_or_run():
    spec, _ = classic.svm_regressor(np.random.default_rng(0), width=3)
    spec.description.input[0].type.multiArrayType.shape[0] = 4
    with pytest.raises(ValidationError, match="must all hold the 4 values"):
        runtime.Model.load(spec)
    del spec.description.input[0].type.multiArrayType.shape[:]
    spec.description.input[0].type.multiArrayType.shape.extend([3])
    model = runtime.Model.load(spec)
    with pytest.raises(FeatureError, match="holds 4 values per example; its description"):
        model.engine.run({"features": np.zeros((2, 4))})
