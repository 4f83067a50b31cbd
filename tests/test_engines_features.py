"""Feature-engineering engines (featureVectorizer, oneHotEncoder, normalizer, scaler, imputer,
arrayFeatureExtractor, dictVectorizer, categoricalMapping, identity) against numpy references
over random inputs, every mode, and their bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

import runtime
from tests.builders import classic
from tests.builders._common import datatypes
from updatable.errors import FeatureError, UnsupportedModelError, ValidationError

RNG = np.random.default_rng(2024)


def run(spec, columns):
    return runtime.Model.load(spec).predict_batch(columns)


def test_feature_vectorizer_lays_features_side_by_side():
    spec = classic.feature_vectorizer(
        [
            ("a", datatypes.Double()),
            ("b", datatypes.Array(3)),
            ("c", datatypes.Int64()),
            ("d", datatypes.Dictionary(datatypes.Int64()), 4),
        ]
    )
    count = 9
    a, b = RNG.normal(size=count), RNG.normal(size=(count, 3))
    c = RNG.integers(-5, 5, count)
    d = [
        {int(k): float(RNG.normal()) for k in RNG.choice(4, RNG.integers(0, 4), replace=False)}
        for _ in range(count)
    ]
    results = run(spec, {"a": a, "b": b, "c": c, "d": d})
    for i, result in enumerate(results):
        sparse = np.zeros(4)
        for key, value in d[i].items():
            sparse[key] = value
        expected = np.concatenate([[a[i]], b[i].astype(np.float32), [c[i]], sparse])
        np.testing.assert_allclose(result["features"], expected, rtol=1e-7)


def test_feature_vectorizer_refuses_keys_outside_the_columns_width():
    spec = classic.feature_vectorizer([("d", datatypes.Dictionary(datatypes.Int64()), 3)])
    with pytest.raises(FeatureError, match=r"example 1 has key 3; its keys are positions 0 to 2"):
        run(spec, {"d": [{0: 1.0}, {3: 1.0}]})


def test_feature_vectorizer_refuses_string_keyed_dictionaries_and_wrong_widths():
    spec = classic.feature_vectorizer([("d", datatypes.Dictionary(datatypes.Int64()), 3)])
    spec.description.input[0].type.dictionaryType.stringKeyType.SetInParent()
    with pytest.raises(UnsupportedModelError, match="only Int64 keys work"):
        runtime.Model.load(spec)
    spec = classic.feature_vectorizer([("b", datatypes.Array(3))])
    spec.featureVectorizer.inputList[0].inputDimensions = 4
    with pytest.raises(ValidationError, match=r"gives 'b' 4 values, but it is a multiArray"):
        runtime.Model.load(spec)


@pytest.mark.parametrize("strings", [True, False])
@pytest.mark.parametrize("sparse", [True, False])
def test_one_hot_encoder_puts_a_one_at_the_categorys_position(strings, sparse):
    categories = ["red", "green", "blue", "green"] if strings else [7, -3, 12, 7]
    spec = classic.one_hot_encoder(categories, sparse=sparse, unknown="IgnoreUnknown")
    values = [categories[i] for i in RNG.integers(0, 4, 12)] + (["pink"] if strings else [99])
    results = run(spec, {"category": values})
    first = {category: categories.index(category) for category in categories}
    for value, result in zip(values, results, strict=True):
        position = first.get(value)
        if sparse:
            assert result["encoded"] == ({} if position is None else {position: 1.0})
        else:
            expected = np.zeros(4)
            if position is not None:
                expected[position] = 1.0
            np.testing.assert_array_equal(result["encoded"], expected)


def test_one_hot_encoder_errors_on_unknown_by_default():
    spec = classic.one_hot_encoder(["x", "y"])
    with pytest.raises(
        FeatureError, match=r"example 1 is 'z', which is not one of its 2 categories"
    ):
        run(spec, {"category": ["x", "z"]})


def test_one_hot_encoder_categories_must_have_the_inputs_type():
    spec = classic.one_hot_encoder(["x", "y"])
    spec.description.input[0].type.int64Type.SetInParent()
    with pytest.raises(ValidationError, match="its categories are stringCategories but input"):
        runtime.Model.load(spec)


@pytest.mark.parametrize("norm", ["L1", "L2", "LMax"])
def test_normalizer_divides_by_the_norm(norm):
    rows = RNG.normal(size=(10, 5))
    rows[3] = 0.0  # a zero norm leaves the example as it is
    rows[4] = -np.abs(rows[4])  # LMax: the largest value is negative
    results = run(classic.normalizer(norm, 5), {"features": rows})
    x = rows.astype(np.float32).astype(np.float64)
    z = {"L1": np.abs(x).sum(1), "L2": np.sqrt((x**2).sum(1)), "LMax": x.max(1)}[norm]
    expected = x / np.where(z == 0, 1, z)[:, None]
    np.testing.assert_allclose([r["normalized"] for r in results], expected, rtol=1e-12)


@pytest.mark.parametrize(("shifts", "scales"), [(0, 0), (1, 1), (5, 5), (1, 5), (5, 0)])
def test_array_scaler(shifts, scales):
    shift = RNG.normal(size=shifts) if shifts else None
    scale = RNG.normal(size=scales) if scales else None
    rows = RNG.normal(size=(6, 5))
    results = run(classic.scaler(shift, scale, 5), {"features": rows})
    x = rows.astype(np.float32).astype(np.float64)
    expected = (1.0 if scale is None else scale) * (x + (0.0 if shift is None else shift))
    np.testing.assert_allclose([r["scaled"] for r in results], expected, rtol=1e-12)


def test_scalar_scalers_keep_int64_outputs_whole():
    spec = classic.scaler(2.0, 3.0, source=datatypes.Int64(), target=datatypes.Int64())
    assert [r["scaled"] for r in run(spec, {"features": [1, -2]})] == [9, 0]
    spec = classic.scaler(0.5, 3.0, source=datatypes.Int64(), target=datatypes.Int64())
    with pytest.raises(FeatureError, match=r"example 0 scales to 4.5, which Int64 output"):
        run(spec, {"features": [1]})
    spec = classic.scaler(0.5, 3.0, source=datatypes.Int64(), target=datatypes.Double())
    assert run(spec, {"features": [1]}) == [{"scaled": 4.5}]


@pytest.mark.parametrize("replace", [None, float("nan"), -1.0])
def test_double_and_array_imputers(replace):
    pair = None if replace is None else ("replaceDoubleValue", replace)
    marker = -1.0 if replace == -1.0 else np.nan
    values = np.array([1.5, marker, 3.0, marker])
    spec = classic.imputer(datatypes.Double(), "imputedDoubleValue", 9.0, pair)
    assert [r["imputed"] for r in run(spec, {"raw": values})] == [1.5, 9.0, 3.0, 9.0]
    rows = RNG.normal(size=(5, 3))
    rows[RNG.random(rows.shape) < 0.4] = marker
    fill = RNG.normal(size=3)
    spec = classic.imputer(datatypes.Array(3), "imputedDoubleArray", fill, pair)
    missing = np.isnan(rows) if np.isnan(marker) else rows == marker
    expected = np.where(missing, fill, rows.astype(np.float32))
    np.testing.assert_allclose(
        [r["imputed"] for r in run(spec, {"raw": rows})], expected, rtol=1e-7
    )


def test_int64_array_imputer_fills_by_position():
    spec = classic.imputer(
        datatypes.Array(3), "imputedInt64Array", [7, 8, 9], ("replaceInt64Value", 0)
    )
    result = run(spec, {"raw": [[0.0, 2.0, 0.0]]})
    np.testing.assert_array_equal(result[0]["imputed"], [7.0, 2.0, 9.0])


def test_int64_string_and_dictionary_imputers():
    spec = classic.imputer(datatypes.Int64(), "imputedInt64Value", 5, ("replaceInt64Value", -1))
    assert [r["imputed"] for r in run(spec, {"raw": [-1, 4]})] == [5, 4]
    spec = classic.imputer(
        datatypes.String(), "imputedStringValue", "none", ("replaceStringValue", "?")
    )
    assert [r["imputed"] for r in run(spec, {"raw": ["?", "a"]})] == ["none", "a"]
    spec = classic.imputer(
        datatypes.Dictionary(datatypes.String()), "imputedStringDictionary", {"k": 1.0}
    )
    assert run(spec, {"raw": [{"a": 2.0}]}) == [{"imputed": {"a": 2.0}}]


def test_an_absent_input_is_imputed_alone_or_inside_a_pipeline():
    from coremltools.models.pipeline import Pipeline

    imputer = classic.imputer(datatypes.String(), "imputedStringValue", "unknown")
    assert runtime.Model.load(imputer).predict_batch([{}, {}]) == [{"imputed": "unknown"}] * 2
    pipeline = Pipeline(
        [("raw", datatypes.String()), ("other", datatypes.Double())],
        [("imputed", datatypes.String())],
    )
    pipeline.add_model(imputer)
    pipeline.spec.description.input[0].type.isOptional = True
    model = runtime.Model.load(pipeline.spec)
    assert model.predict({"other": 1.0}) == {"imputed": "unknown"}
    assert model.predict({"other": 1.0, "raw": "x"}) == {"imputed": "x"}
    dictionary = classic.imputer(
        datatypes.Dictionary(datatypes.Int64()), "imputedInt64Dictionary", {3: 1.5}
    )
    assert runtime.Model.load(dictionary).predict({}) == {"imputed": {3: 1.5}}
    array = classic.imputer(datatypes.Array(2), "imputedDoubleArray", [4.0, 5.0])
    np.testing.assert_array_equal(runtime.Model.load(array).predict({})["imputed"], [4.0, 5.0])


def test_array_feature_extractor_of_each_output_type():
    rows = RNG.normal(scale=4, size=(7, 6))
    results = run(classic.array_feature_extractor(6, [4, 0, 4]), {"features": rows})
    np.testing.assert_allclose(
        [r["extracted"] for r in results], rows[:, [4, 0, 4]].astype(np.float32), rtol=1e-7
    )
    results = run(classic.array_feature_extractor(6, [2], "Double"), {"features": rows})
    assert [r["extracted"] for r in results] == pytest.approx(
        rows[:, 2].astype(np.float32).tolist()
    )
    results = run(classic.array_feature_extractor(6, [2], "Int64"), {"features": rows})
    assert [r["extracted"] for r in results] == np.trunc(rows[:, 2].astype(np.float32)).astype(
        int
    ).tolist()


def test_array_feature_extractor_checks_its_indexes():
    spec = classic.array_feature_extractor(6, [5])
    spec.arrayFeatureExtractor.extractIndex[0] = 6
    with pytest.raises(
        ValidationError, match="extractIndex 6 is past the end of input 'features' \\(6 values\\)"
    ):
        runtime.Model.load(spec)
    spec = classic.array_feature_extractor(6, [1], "Int64")
    with pytest.raises(FeatureError, match="extracts nan, which Int64 output"):
        run(spec, {"features": [[0, np.nan, 0, 0, 0, 0]]})


@pytest.mark.parametrize("keys", [["a", "b", "c", "a"], [10, 20, 30, 10]])
def test_dict_vectorizer_gives_positions(keys):
    spec = classic.dict_vectorizer(keys)
    given = {keys[2]: 1.5, keys[0]: -2.0}
    assert run(spec, {"dict": [given]}) == [{"indexed": {2: 1.5, 0: -2.0}}]
    with pytest.raises(FeatureError, match="which its index mapping does not list"):
        run(spec, {"dict": [{keys[0]: 1.0}, {"zzz" if isinstance(keys[0], str) else 99: 1.0}]})


def test_dict_vectorizer_feeds_a_feature_vectorizer():
    """coremltools' DictVectorizer conversion: dictVectorizer -> featureVectorizer (dense)."""
    from coremltools.models.pipeline import Pipeline

    pipeline = Pipeline(
        [("dict", datatypes.Dictionary(datatypes.String()))], [("dense", datatypes.Array(3))]
    )
    pipeline.add_model(classic.dict_vectorizer(["x", "y", "z"]))
    pipeline.add_model(
        classic.feature_vectorizer(
            [("indexed", datatypes.Dictionary(datatypes.Int64()), 3)], "dense"
        )
    )
    result = runtime.Model.load(pipeline.spec).predict({"dict": {"z": 2.0, "x": 1.0}})
    np.testing.assert_array_equal(result["dense"], [1.0, 0.0, 2.0])


def test_categorical_mapping_both_ways_with_and_without_default():
    spec = classic.categorical_mapping({"a": 1, "b": 2}, default=-1)
    assert [r["mapped"] for r in run(spec, {"category": ["b", "zz", "a"]})] == [2, -1, 1]
    spec = classic.categorical_mapping({4: "four", 5: "five"})
    assert [r["mapped"] for r in run(spec, {"category": [5, 4]})] == ["five", "four"]
    with pytest.raises(FeatureError, match="holds 6, which the mapping does not hold"):
        run(spec, {"category": [5, 6]})


def test_categorical_mapping_of_sequences():
    spec = classic.categorical_mapping({"a": 1, "b": 2}, default=0)
    engine = runtime.Model.load(spec).engine
    sequence = engine.__class__(
        engine.input_name, engine.keys, engine.targets, 0, True, engine.output
    )
    assert sequence.run({"category": [["a", "q", "b"], []]}) == {"mapped": [[1, 0, 2], []]}


def test_identity_returns_its_inputs():
    spec = classic.transform(
        "identity",
        [("a", datatypes.Double()), ("b", datatypes.String())],
        [("x", datatypes.Double()), ("y", datatypes.String())],
    )
    assert run(spec, {"a": [1.5], "b": ["q"]}) == [{"x": 1.5, "y": "q"}]
    spec.description.output[1].type.int64Type.SetInParent()
    with pytest.raises(UnsupportedModelError, match="must match in number and type"):
        runtime.Model.load(spec)
