"""Pipelines forward: sub-models in order over named features, linked models, errors.

Models come from coremltools' builders (``NeuralNetworkBuilder``,
``KNearestNeighborsClassifierBuilder``, ``Pipeline`` / ``PipelineClassifier`` /
``PipelineRegressor``); every pipeline result is checked against running its sub-models one by
one, and the kNN head against a brute-force numpy vote.
"""

from __future__ import annotations

import numpy as np
import pytest
from coremltools.models import datatypes
from coremltools.models.neural_network import NeuralNetworkBuilder
from coremltools.models.pipeline import Pipeline, PipelineRegressor
from PIL import Image

import runtime
import updatable
from runtime.model.configuration import ModelConfiguration, ParameterKey
from tests import builders
from updatable import proto
from updatable.errors import FeatureError, ParameterError, UnsupportedModelError


def knn_vote(queries, points, labels, k):
    """Brute-force uniform kNN: the label with most votes among the k nearest (first on ties)."""
    result = []
    for q in queries:
        nearest = np.argsort(((points - q) ** 2).sum(1), kind="stable")[:k]
        votes = [labels[i] for i in nearest]
        result.append(max(dict.fromkeys(votes), key=votes.count))
    return result


def test_feature_extractor_and_knn_pipeline_matches_its_stages():
    spec, points, labels = builders.extractor_knn_pipeline()
    model = runtime.Model.load(spec)
    images = np.random.default_rng(1).uniform(0, 1, (5, 1, 8, 8))
    results = model.predict_batch({"image": images})
    embeddings = runtime.Model.load(builders.embedding_extractor(0)).predict_batch(
        {"image": images}
    )
    queries = np.stack([e["embedding"] for e in embeddings])
    assert [r["shape"] for r in results] == knn_vote(queries, points, labels, 3)
    for result in results:
        assert set(result) == {"shape", "shapeProbs"}
        assert sum(result["shapeProbs"].values()) == pytest.approx(1.0)
        assert max(result["shapeProbs"], key=result["shapeProbs"].get) == result["shape"]


def test_later_stages_read_pipeline_inputs_and_every_earlier_output():
    """Stage 2 adds the pipeline input `offset` to stage 1's output; a regressor pipeline."""
    first = builders.embedding_extractor(2, output="features")
    builder = NeuralNetworkBuilder(
        [("features", datatypes.Array(6)), ("offset", datatypes.Array(6))],
        [("value", datatypes.Double())],
        mode="regressor",
    )
    builder.add_elementwise("sum", ["features", "offset"], "s", "ADD")
    builder.add_inner_product("ip", np.ones((1, 6)), None, 6, 1, False, "s", "value")
    pipeline = PipelineRegressor(
        [("image", datatypes.Array(1, 8, 8)), ("offset", datatypes.Array(6))],
        [("value", datatypes.Double())],
    )
    pipeline.add_model(first)
    pipeline.add_model(builder.spec)
    model = runtime.Model.load(pipeline.spec)
    image, offset = np.random.default_rng(3).uniform(0, 1, (1, 8, 8)), np.arange(6.0)
    result = model.predict({"image": image, "offset": offset})
    features = runtime.Model.load(first).predict({"image": image})["features"]
    assert list(result) == ["value"] and isinstance(result["value"], float)  # a Double output
    assert result["value"] == pytest.approx(np.sum(features + offset), rel=1e-5)


def test_linked_feature_extractor_resolves_next_to_the_pipeline(tmp_path):
    spec, _, _ = builders.extractor_knn_pipeline(seed=4)
    updatable.save(spec.pipelineClassifier.pipeline.models[0], tmp_path / "Embedding.mlmodel")
    linked = spec.pipelineClassifier.pipeline.models[0]
    linked.Clear()
    linked.specificationVersion = 4
    linked.linkedModel.linkedModelFile.linkedModelFileName.defaultValue = "Embedding.mlmodelc"
    linked.linkedModel.linkedModelFile.linkedModelSearchPath.defaultValue = ".:$BUNDLE_MAIN"
    extractor_spec = updatable.load(tmp_path / "Embedding.mlmodel")
    linked.description.CopyFrom(extractor_spec.description)
    updatable.save(spec, tmp_path / "Drawings.mlmodel")
    model = runtime.Model.load(tmp_path / "Drawings.mlmodel")
    assert model.engine.stages[0].path == tmp_path / "Embedding.mlmodel"
    images = np.random.default_rng(5).uniform(0, 1, (4, 1, 8, 8))
    inline, _, _ = builders.extractor_knn_pipeline(seed=4)
    expected = runtime.Model.load(inline).predict_batch({"image": images})
    assert model.predict_batch({"image": images}) == expected


def test_tiny_drawing_pipeline_with_a_linked_embedding_predicts_its_default_label(tmp_path):
    """Apple's updatable drawing classifier before any update: the linked
    `TinyDrawingEmbedding.mlmodelc` resolves to the .mlmodel next to the pipeline, and the
    empty kNN answers its default label with probability 1."""
    updatable.save(builders.tiny_drawing_embedding(), tmp_path / "TinyDrawingEmbedding.mlmodel")
    updatable.save(builders.tiny_drawing_pipeline(linked=True), tmp_path / "Drawings.mlmodel")
    model = runtime.Model.load(tmp_path / "Drawings.mlmodel")
    sketch = Image.fromarray(np.random.default_rng(8).integers(0, 256, (40, 40), dtype=np.uint8))
    assert model.predict({"drawing": sketch}) == {
        "label": "unknown",
        "labelProbs": {"unknown": 1.0},
    }


def test_parameters_scoped_to_a_named_stage_apply_to_that_stage_only():
    spec, points, labels = builders.extractor_knn_pipeline(seed=6, k=3)
    spec.pipelineClassifier.pipeline.names.extend(["embedder", "neighbours"])
    key = ParameterKey.NUMBER_OF_NEIGHBORS
    images = np.random.default_rng(7).uniform(0, 1, (6, 1, 8, 8))
    queries = np.stack(
        [
            e["embedding"]
            for e in runtime.Model.load(builders.embedding_extractor(6)).predict_batch(
                {"image": images}
            )
        ]
    )
    for parameters, k in [
        ({}, 3),
        ({key.scoped("neighbours"): 1}, 1),
        ({key: 5, key.scoped("neighbours"): 1}, 1),
        ({key: 5}, 5),
    ]:
        model = runtime.Model.load(spec, ModelConfiguration(parameters=parameters))
        assert model.engine.stages[1].engine.k == k
        predicted = [r["shape"] for r in model.predict_batch({"image": images})]
        assert predicted == knn_vote(queries, points, labels, k), parameters


def test_layer_scoped_weights_reach_the_sub_model_that_has_the_layer():
    """Two networks in a row; new weights for the second one's layer `ip2`."""
    first = builders.embedding_extractor(9)
    builder = NeuralNetworkBuilder([("embedding", datatypes.Array(6))], [("y", datatypes.Array(2))])
    builder.add_inner_product("ip2", np.ones((2, 6)), None, 6, 2, False, "embedding", "y")
    pipeline = Pipeline([("image", datatypes.Array(1, 8, 8))], [("y", datatypes.Array(2))])
    pipeline.add_model(first)
    pipeline.add_model(builder.spec)
    weights = np.arange(12.0).reshape(2, 6)
    configuration = ModelConfiguration(parameters={ParameterKey.WEIGHTS.scoped("ip2"): weights})
    image = np.random.default_rng(10).uniform(0, 1, (1, 8, 8))
    result = runtime.Model.load(pipeline.spec, configuration).predict({"image": image})
    embedding = runtime.Model.load(first).predict({"image": image})["embedding"]
    np.testing.assert_allclose(result["y"], weights @ embedding, rtol=1e-5)
    typo = ModelConfiguration(parameters={ParameterKey.WEIGHTS.scoped("ip3"): weights})
    with pytest.raises(ParameterError, match=r"\['weights@ip3'\] are scoped to layers that no"):
        runtime.Model.load(pipeline.spec, typo)


def test_pipeline_wiring_errors_name_the_missing_features():
    pipeline = Pipeline(
        [("picture", datatypes.Array(1, 8, 8))], [("embedding", datatypes.Array(6))]
    )
    pipeline.add_model(builders.embedding_extractor())
    with pytest.raises(
        FeatureError,
        match=r"pipeline model 0 reads \['image'\], which neither "
        r"the pipeline's inputs .* available: \['picture'\]",
    ):
        runtime.Model.load(pipeline.spec)
    pipeline = Pipeline([("image", datatypes.Array(1, 8, 8))], [("vector", datatypes.Array(6))])
    pipeline.add_model(builders.embedding_extractor())
    with pytest.raises(FeatureError, match=r"declares outputs \['vector'\], which no sub-model"):
        runtime.Model.load(pipeline.spec)
    empty = proto.Model(specificationVersion=4)
    empty.pipeline.SetInParent()
    with pytest.raises(UnsupportedModelError, match=r"Pipeline must contain one or more models\."):
        runtime.Model.load(empty)


def test_unsupported_model_types_say_what_they_are_and_where_they_sit():
    spec = proto.Model(specificationVersion=4)
    spec.visionFeaturePrint.SetInParent()
    with pytest.raises(UnsupportedModelError) as info:
        runtime.Model.load(spec)
    assert str(info.value) == (
        "cannot run model type 'visionFeaturePrint', Apple's Vision feature print (a "
        "proprietary image embedding): Apple's frameworks compute it on the device; no "
        "off-device implementation exists"
    )
    pipeline = Pipeline([("image", datatypes.Array(1, 8, 8))], [("vector", datatypes.Array(6))])
    pipeline.add_model(builders.embedding_extractor())
    pipeline.spec.pipeline.models.add().CopyFrom(spec)
    pipeline.spec.pipeline.names.extend(["embedding", "featurePrint"])
    with pytest.raises(UnsupportedModelError, match=r"^pipeline model 1 \('featurePrint'\): "):
        runtime.Model.load(pipeline.spec)
