"""Real scikit-learn models and pipelines, converted by coremltools' own scikit-learn converters,
run by the runtime and compared with scikit-learn's predictions: labels equal, probabilities and
values to 1e-5 relative, except where Core ML defines the result differently (below).

coremltools' converters support scikit-learn up to 1.5.1 (and, for gradient boosting, numpy
below 2.4), older than the main test environment's; ``make test-sklearn`` runs this module in a
venv of its own, and elsewhere it skips with that reason. The data are scikit-learn's bundled
datasets (iris, wine, breast cancer, diabetes) and small synthetic tables, rounded to float32 for
both sides, as the runtime's multiArray batches are float32.

Core ML-defined differences, asserted as such:

* **SVC, two classes, probabilities**: Core ML's SVMs are libsvm's, which takes a binary
  model's Platt probability as it is; scikit-learn couples the two classes with the iterative
  multiclass method even then, which stops once within 0.005 / K of its fixed point. The two
  differ by a few thousandths (coremltools' own tests allow 0.005, and so does this one);
  labels agree.
* **LinearSVC**: no probabilities in scikit-learn; Core ML's logistic scores are compared by
  label only.
* **Random forest, three or more classes**: the converter writes each tree's class
  probabilities without the ``1 / n_estimators`` it applies for two classes, and the model's
  transform is ``NoTransform``, so the model's "probabilities" are ``n_estimators`` times
  scikit-learn's (labels agree): compared after dividing by ``n_estimators``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from tests.optional import require

sklearn = require("sklearn")

_VERSION = tuple(int(part) for part in sklearn.__version__.split(".")[:2])
if _VERSION > (1, 5):
    pytest.skip(
        f"scikit-learn {sklearn.__version__} is newer than 1.5.1, the last version coremltools' "
        "scikit-learn converters support: run `make test-sklearn`",
        allow_module_level=True,
    )

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from coremltools.converters import sklearn as converter
    from coremltools.models import datatypes
    from sklearn import (
        datasets,
        ensemble,
        linear_model,
        neighbors,
        pipeline,
        preprocessing,
        svm,
        tree,
    )
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.impute import SimpleImputer

import runtime  # noqa: E402
import updatable  # noqa: E402

# scikit-learn 1.5's deprecations (multi_class) and scipy's, inside model fitting
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning")
RTOL = 1e-5


def data(name: str):
    """A bundled dataset, rounded to float32 (both sides see the same numbers)."""
    loader = getattr(datasets, f"load_{name}")
    x, y = loader(return_X_y=True)
    return x.astype(np.float32).astype(np.float64), y


def convert(model, inputs, target="target"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return converter.convert(model, inputs, target).get_spec()


def named(x):
    names = [f"f{i}" for i in range(x.shape[1])]
    return names, {name: x[:, i] for i, name in enumerate(names)}


def run(spec, columns):
    """The runtime's predictions; the converter's output is a model Core ML accepts, so our
    port of its validator must find nothing either."""
    assert updatable.validate(spec) == []
    return runtime.Model.load(spec).predict_batch(columns)


def differences(got, expected) -> tuple[float, float]:
    """Largest absolute difference, and largest relative one where the expected value is not
    below 1e-12 (the absolute tolerance of the comparisons)."""
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    absolute = np.abs(got - expected)
    sizable = np.abs(expected) >= 1e-12
    relative = absolute[sizable] / np.abs(expected[sizable])
    return float(absolute.max()), float(relative.max()) if relative.size else 0.0


def check_classifier(spec, model, x, columns, *, probability_tolerance=None, scale=1.0):
    """Labels equal; probabilities (divided by ``scale``) to RTOL relative, or to an absolute
    tolerance where Core ML defines them differently. Prints the parity numbers (``pytest
    -s``)."""
    results = run(spec, columns)
    label, probabilities = (
        spec.description.predictedFeatureName,
        spec.description.predictedProbabilitiesName,
    )
    expected_labels = model.predict(x)
    assert [r[label] for r in results] == expected_labels.tolist()
    if probability_tolerance == "labels only":
        print(f"\nparity {type(model).__name__}: labels equal ({len(x)} examples)")
        return
    got = np.array([[r[probabilities][c] for c in model.classes_.tolist()] for r in results])
    got /= scale
    expected = model.predict_proba(x)
    absolute, relative = differences(got, expected)
    print(
        f"\nparity {type(model).__name__}: labels equal; probabilities max abs "
        f"{absolute:.2e}, max rel {relative:.2e}"
    )
    if probability_tolerance is None:
        np.testing.assert_allclose(got, expected, rtol=RTOL, atol=1e-12)
    else:
        assert absolute <= probability_tolerance


def check_regressor(spec, model, x, columns):
    results = run(spec, columns)
    got = [r[spec.description.predictedFeatureName] for r in results]
    expected = model.predict(x)
    absolute, relative = differences(got, expected)
    print(f"\nparity {type(model).__name__}: values max abs {absolute:.2e}, max rel {relative:.2e}")
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=1e-9)


def types_of(spec) -> list[str]:
    kind = spec.WhichOneof("Type")
    if kind.startswith("pipeline"):
        inner = getattr(spec, kind)
        models = inner.pipeline.models if kind != "pipeline" else inner.models
        return [t for m in models for t in types_of(m)]
    return [kind]


def ovr_logistic():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn 1.5 deprecates multi_class
        return linear_model.LogisticRegression(multi_class="ovr", max_iter=5000)


def test_standard_scaler_and_logistic_regression():
    x, y = data("wine")
    model = pipeline.make_pipeline(preprocessing.StandardScaler(), ovr_logistic()).fit(x, y)
    names, columns = named(x)
    spec = convert(model, names)
    assert types_of(spec) == ["featureVectorizer", "scaler", "glmClassifier"]
    check_classifier(spec, model, x, columns)


def test_imputer_scaler_and_logistic_regression_with_missing_values():
    x, y = data("wine")
    x = x.copy()
    x[np.random.default_rng(0).random(x.shape) < 0.1] = np.nan
    model = pipeline.make_pipeline(
        SimpleImputer(), preprocessing.StandardScaler(), ovr_logistic()
    ).fit(x, y)
    spec = convert(model, [("input", datatypes.Array(x.shape[1]))])
    assert types_of(spec) == ["imputer", "scaler", "glmClassifier"]
    check_classifier(spec, model, x, {"input": x})


@pytest.mark.parametrize("norm", ["l1", "l2", "max"])
def test_normalizer_and_linear_svc(norm):
    x, y = data(
        "iris"
    )  # all values positive: Core ML's LMax (largest value) = scikit-learn's max |x|
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = pipeline.make_pipeline(preprocessing.Normalizer(norm=norm), svm.LinearSVC()).fit(
            x, y
        )
    names, columns = named(x)
    spec = convert(model, names)
    assert types_of(spec) == ["featureVectorizer", "normalizer", "glmClassifier"]
    check_classifier(spec, model, x, columns, probability_tolerance="labels only")


@pytest.mark.parametrize("dataset", ["iris", "breast_cancer"])
def test_logistic_regression_binary_and_multiclass(dataset):
    x, y = data(dataset)
    model = ovr_logistic().fit(x, y)
    names, columns = named(x)
    check_classifier(convert(model, names), model, x, columns)


def test_linear_regression():
    x, y = data("diabetes")
    model = linear_model.LinearRegression().fit(x, y)
    names, columns = named(x)
    spec = convert(model, names)
    assert "glmRegressor" in types_of(spec)
    check_regressor(spec, model, x, columns)


@pytest.mark.parametrize("kernel", ["rbf", "linear", "poly", "sigmoid"])
def test_svc_with_probabilities_multiclass(kernel):
    x, y = data("iris")
    model = svm.SVC(kernel=kernel, probability=True, random_state=0).fit(x, y)
    names, columns = named(x)
    spec = convert(model, names)
    assert types_of(spec) == ["featureVectorizer", "supportVectorClassifier"]
    check_classifier(spec, model, x, columns)


def test_svc_with_probabilities_binary_differs_by_scikit_learns_coupling():
    x, y = data("iris")
    y = (y == 2).astype(int)
    model = svm.SVC(probability=True, random_state=0).fit(x, y)
    names, columns = named(x)
    check_classifier(convert(model, names), model, x, columns, probability_tolerance=0.005)


@pytest.mark.parametrize("kernel", ["rbf", "linear", "poly"])
def test_svr(kernel):
    x, y = data("diabetes")
    model = svm.SVR(kernel=kernel, C=50.0).fit(x, y)
    names, columns = named(x)
    spec = convert(model, names)
    assert types_of(spec) == ["featureVectorizer", "supportVectorRegressor"]
    check_regressor(spec, model, x, columns)


@pytest.mark.parametrize(
    ("make", "dataset"),
    [
        (lambda: tree.DecisionTreeClassifier(random_state=0), "iris"),
        (lambda: tree.DecisionTreeClassifier(max_depth=4, random_state=0), "breast_cancer"),
        (lambda: ensemble.RandomForestClassifier(n_estimators=20, random_state=0), "wine"),
        (lambda: ensemble.RandomForestClassifier(n_estimators=15, random_state=0), "breast_cancer"),
        (lambda: ensemble.GradientBoostingClassifier(n_estimators=30, random_state=0), "iris"),
        (
            lambda: ensemble.GradientBoostingClassifier(n_estimators=30, random_state=0),
            "breast_cancer",
        ),
    ],
    ids=[
        "tree-multiclass",
        "tree-binary",
        "forest-multiclass",
        "forest-binary",
        "boosting-multiclass",
        "boosting-binary",
    ],
)
def test_tree_ensemble_classifiers(make, dataset):
    x, y = data(dataset)
    model = make().fit(x, y)
    names, columns = named(x)
    spec = convert(model, names)
    assert types_of(spec) == ["featureVectorizer", "treeEnsembleClassifier"]
    unscaled = isinstance(model, ensemble.RandomForestClassifier) and len(model.classes_) > 2
    check_classifier(spec, model, x, columns, scale=model.n_estimators if unscaled else 1.0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: tree.DecisionTreeRegressor(max_depth=6, random_state=0),
        lambda: ensemble.RandomForestRegressor(n_estimators=20, random_state=0),
        lambda: ensemble.GradientBoostingRegressor(n_estimators=40, random_state=0),
    ],
    ids=["tree", "forest", "boosting"],
)
def test_tree_ensemble_regressors(make):
    x, y = data("diabetes")
    model = make().fit(x, y)
    names, columns = named(x)
    spec = convert(model, names)
    assert types_of(spec) == ["featureVectorizer", "treeEnsembleRegressor"]
    check_regressor(spec, model, x, columns)


def test_k_nearest_neighbours():
    x, y = data("iris")
    model = neighbors.KNeighborsClassifier(n_neighbors=5).fit(x, y)
    spec = convert(model, [("input", datatypes.Array(4))])
    assert types_of(spec) == ["kNearestNeighborsClassifier"]
    results = run(spec, {"input": x})
    labels = [r[spec.description.predictedFeatureName] for r in results]
    agree = np.mean(np.asarray(labels) == model.predict(x))
    print(f"\nparity KNeighborsClassifier: labels agree on {agree:.1%}")
    assert agree == 1.0


def categorical_table(rng, count=300):
    """Two categorical columns (values 0..k-1, as the converter expects) and a label."""
    x = np.stack([rng.integers(0, 4, count), rng.integers(0, 3, count)], axis=1).astype(float)
    y = ((x[:, 0] + 2 * x[:, 1] + rng.integers(0, 2, count)) % 3).astype(int)
    return x, y


@pytest.mark.parametrize("unknown", ["error", "ignore"])
def test_one_hot_encoder_and_logistic_regression(unknown):
    x, y = categorical_table(np.random.default_rng(1))
    model = pipeline.make_pipeline(
        preprocessing.OneHotEncoder(handle_unknown=unknown), ovr_logistic()
    ).fit(x, y)
    spec = convert(model, [("input", datatypes.Array(2))])
    assert types_of(spec)[:2] == ["arrayFeatureExtractor", "oneHotEncoder"]
    assert types_of(spec)[-1] == "glmClassifier"
    check_classifier(spec, model, x, {"input": x})


def test_dict_vectorizer_and_logistic_regression():
    rng = np.random.default_rng(2)
    rows = [
        {key: float(rng.normal()) for key in rng.choice(list("abcdef"), 3, replace=False)}
        for _ in range(200)
    ]
    y = np.array([int(r.get("a", 0) + r.get("b", 0) > 0) for r in rows])
    model = pipeline.make_pipeline(DictVectorizer(sparse=False), ovr_logistic()).fit(rows, y)
    spec = convert(model, "dict")
    assert types_of(spec) == ["dictVectorizer", "featureVectorizer", "glmClassifier"]
    results = run(spec, {"dict": rows})
    label, probabilities = (
        spec.description.predictedFeatureName,
        spec.description.predictedProbabilitiesName,
    )
    assert [r[label] for r in results] == model.predict(rows).tolist()
    got = [[r[probabilities][c] for c in model.classes_.tolist()] for r in results]
    np.testing.assert_allclose(got, model.predict_proba(rows), rtol=RTOL, atol=1e-12)
