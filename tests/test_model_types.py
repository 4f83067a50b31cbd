"""Every Core ML model type: the runtime runs it or refuses it in one line that says what it is;
the table of model types matches the protobuf and the runtime's engines; ``updatable inspect``
describes every (sub-)model, classic parameters included."""

from __future__ import annotations

import json

import numpy as np
import pytest
from coremltools.models.pipeline import Pipeline

import runtime
import updatable
from runtime.model.engines import ENGINES
from tests.builders import classic
from tests.builders._common import datatypes
from updatable import proto
from updatable.cli import main
from updatable.errors import FeatureError, UnsupportedModelError
from updatable.model_types import MODEL_TYPES, all_model_types

REFUSED = sorted(kind for kind, entry in MODEL_TYPES.items() if not entry.runs)


def test_the_table_covers_every_model_type_and_matches_the_engines():
    assert sorted(MODEL_TYPES) == sorted(all_model_types())
    assert sorted(kind for kind, entry in MODEL_TYPES.items() if entry.runs) == sorted(ENGINES)
    assert REFUSED == sorted(
        [
            "audioFeaturePrint",
            "bayesianProbitRegressor",
            "classConfidenceThresholding",
            "customModel",
            "gazetteer",
            "itemSimilarityRecommender",
            "linkedModel",
            "mlProgram",
            "nonMaximumSuppression",
            "serializedModel",
            "soundAnalysisPreprocessing",
            "textClassifier",
            "visionFeaturePrint",
            "wordEmbedding",
            "wordTagger",
        ]
    )


def typed(kind: str) -> proto.Model:
    spec = proto.Model(specificationVersion=4)
    getattr(spec, kind).SetInParent()
    return spec


@pytest.mark.parametrize("kind", REFUSED)
def test_each_refused_type_gets_one_line_saying_what_it_is(kind):
    with pytest.raises(UnsupportedModelError) as info:
        runtime.Model.load(typed(kind))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"cannot run model type '{kind}', {MODEL_TYPES[kind].what}: ")
    if MODEL_TYPES[kind].proprietary:
        assert message.endswith("no off-device implementation exists")


def test_refusals_inside_nested_pipelines_name_each_position():
    inner = Pipeline([("x", datatypes.Double())], [("y", datatypes.Double())])
    inner.add_model(
        classic.transform("identity", [("x", datatypes.Double())], [("y", datatypes.Double())])
    )
    inner.spec.pipeline.models.add().CopyFrom(typed("textClassifier"))
    outer = Pipeline([("x", datatypes.Double())], [("y", datatypes.Double())])
    outer.add_model(inner.spec)
    outer.spec.pipeline.names.extend(["text"])
    with pytest.raises(UnsupportedModelError) as info:
        runtime.Model.load(outer.spec)
    assert str(info.value).startswith(
        "pipeline model 0 ('text'): pipeline model 1: cannot run model type 'textClassifier', "
        "Apple's Natural Language text classifier: "
    )


def test_a_model_without_a_type_is_refused():
    with pytest.raises(UnsupportedModelError, match="has no type"):
        runtime.Model.compile(proto.Model(specificationVersion=4))


def test_stage_errors_at_run_time_name_the_stage():
    pipeline = Pipeline([("category", datatypes.String())], [("encoded", datatypes.Array(2))])
    pipeline.add_model(classic.one_hot_encoder(["a", "b"]))
    pipeline.spec.pipeline.names.extend(["encode"])
    model = runtime.Model.load(pipeline.spec)
    with pytest.raises(FeatureError, match=r"^pipeline model 0 \('encode'\): oneHotEncoder: input"):
        model.predict({"category": "c"})


def inspect(path, *flags, capsys) -> str:
    assert main(["inspect", str(path), *flags]) == 0
    return capsys.readouterr().out


def test_inspect_describes_each_sub_model_and_its_parameters(tmp_path, capsys):
    rng = np.random.default_rng(0)
    columns = [("age", datatypes.Double()), ("scores", datatypes.Array(3))]
    pipeline = Pipeline(columns, [("value", datatypes.Double())])
    pipeline.add_model(classic.feature_vectorizer(columns))
    pipeline.add_model(classic.random_tree_ensemble(rng, width=4, dims=1, trees=2, depth=2))
    path = tmp_path / "Tabular.mlmodel"

    updatable.save(pipeline.spec, path)
    text = inspect(path, capsys=capsys)
    assert "  models[0]: featureVectorizer, version 1, not updatable\n" in text
    assert "    a feature vectorizer: puts several features into one array\n" in text
    assert "    age (1) + scores (3) -> 4 values\n" in text
    assert "    a tree ensemble regressor (decision trees, forests, boosting)\n" in text
    assert "2 trees" in text and "NoTransform" in text
    summary = json.loads(inspect(path, "--json", capsys=capsys))
    assert [m["runs"] for m in summary["models"]] == [True, True]
    assert summary["models"][0]["details"] == "age (1) + scores (3) -> 4 values"


def test_inspect_marks_what_the_runtime_cannot_run(tmp_path, capsys):

    spec = typed("visionFeaturePrint")
    spec.description.input.add().name = "image"
    path = tmp_path / "FeaturePrint.mlmodel"
    updatable.save(spec, path)
    text = inspect(path, capsys=capsys)
    assert (
        "  Apple's Vision feature print (a proprietary image embedding) [the runtime cannot run "
        "this model type]\n" in text
    )


@pytest.mark.parametrize(
    ("spec", "line"),
    [
        (
            classic.glm_classifier(
                np.ones((1, 2)), [0.0], ["n", "y"], encoding="ReferenceClass", transform="Probit"
            ),
            "ReferenceClass, Probit: 1 weight rows of 2; 2 classes (n, y)",
        ),
        (
            classic.svm_regressor(np.random.default_rng(0), width=2, count=3, kernel="linear")[0],
            "linear kernel, 3 dense support vectors",
        ),
        (
            classic.one_hot_encoder(["a", "b"], sparse=True),
            "2 string categories -> sparse dictionary; an unknown category is an error",
        ),
        (
            classic.imputer(datatypes.Int64(), "imputedInt64Value", 3, ("replaceInt64Value", -1)),
            "imputedInt64Value for values equal to -1",
        ),
        (
            classic.categorical_mapping({"a": 1}, default=0),
            "String -> Int64, 1 entries, unknown -> 0",
        ),
        (classic.normalizer("L1", 2), "L1 norm"),
        (classic.dict_vectorizer([1, 2, 3]), "3 int64 keys -> positions"),
        (classic.array_feature_extractor(4, [3, 1]), "indexes [3, 1]"),
    ],
)
def test_inspect_details_of_classic_models(spec, line, tmp_path, capsys):

    updatable.save(spec, tmp_path / "m.mlmodel")
    assert f"\n  {line}\n" in inspect(tmp_path / "m.mlmodel", capsys=capsys)
