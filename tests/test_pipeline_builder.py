"""make_pipeline and make_linked_model: the example pipelines of §6.5, and their wiring."""

from __future__ import annotations

import pytest
from coremltools.models import datatypes
from coremltools.models.nearest_neighbors import KNearestNeighborsClassifierBuilder
from coremltools.models.pipeline import PipelineClassifier

import updatable
from tests import builders
from updatable import proto
from updatable.edit.knn import make_knn_classifier
from updatable.errors import ParameterError, SurgeryError, UnsupportedModelError
from updatable.spec import pipeline_models


def copy(spec):
    duplicate = proto.Model()
    duplicate.CopyFrom(spec)
    return duplicate


def errors(spec):
    return [issue for issue in updatable.validate(spec) if issue.severity == "error"]


def drawing_knn():
    return make_knn_classifier(
        128,
        "unknown",
        input_name="embedding",
        output_name="label",
        weighting_scheme="inverse_distance",
    )


def hand_made_drawing_pipeline(embedding):
    """The tiny-drawing pipeline assembled field by field, as the coremltools example does
    (with the pipeline version set to 4 by hand, since its helper leaves it at 1)."""
    knn = KNearestNeighborsClassifierBuilder(
        input_name="embedding",
        output_name="label",
        number_of_dimensions=128,
        default_class_label="unknown",
        weighting_scheme="inverse_distance",
    ).spec
    spec = proto.Model(specificationVersion=4, isUpdatable=True)
    spec.description.input.extend(embedding.description.input)
    spec.description.output.extend(knn.description.output)
    spec.description.predictedFeatureName = knn.description.predictedFeatureName
    spec.description.predictedProbabilitiesName = knn.description.predictedProbabilitiesName
    spec.description.trainingInput.extend([embedding.description.input[0]])
    spec.description.trainingInput.extend([knn.description.trainingInput[1]])
    spec.pipelineClassifier.pipeline.models.add().CopyFrom(embedding)
    spec.pipelineClassifier.pipeline.models.add().CopyFrom(knn)
    return spec


def test_tiny_drawing_pipeline_equals_the_example():
    embedding = builders.drawing_embedding()
    spec = updatable.make_pipeline(embedding, drawing_knn())
    assert spec == hand_made_drawing_pipeline(embedding)
    assert spec.WhichOneof("Type") == "pipelineClassifier"
    assert (spec.specificationVersion, spec.isUpdatable) == (4, True)
    first, last = pipeline_models(spec)
    assert (first.specificationVersion, first.isUpdatable) == (1, False)
    assert (last.specificationVersion, last.isUpdatable) == (4, True)
    drawing, label = spec.description.trainingInput
    assert drawing.type.imageType.colorSpace == proto.ImageFeatureType.GRAYSCALE
    assert (drawing.type.imageType.width, drawing.type.imageType.height) == (28, 28)
    assert (label.name, label.type.WhichOneof("Type")) == ("label", "stringType")
    assert last.kNearestNeighborsClassifier.numberOfNeighbors.defaultValue == 5
    assert errors(spec) == []


def test_coremltools_pipeline_helper_leaves_version_1_which_core_ml_rejects():
    """§5.5 bug 2, for contrast."""
    embedding = builders.drawing_embedding()
    knn = drawing_knn()
    pipeline = PipelineClassifier(
        [("drawing", datatypes.Array(1, 28, 28))],
        ["unknown"],
        output_features=["label", "labelProbs"],
    )
    pipeline.spec.description.input[0].CopyFrom(embedding.description.input[0])
    pipeline.add_model(embedding)
    pipeline.add_model(knn)
    pipeline.make_updatable()
    assert pipeline.spec.specificationVersion == 1
    assert [issue.code for issue in errors(pipeline.spec)] == ["G4"]


def test_head_input_is_renamed_to_the_embedding_and_adopts_its_type():
    extractor = builders.nn_head_pipeline().pipelineClassifier.pipeline.models[0]
    knn = make_knn_classifier(3, "none")  # input "input" FLOAT32 [3]; extractor gives DOUBLE
    knn_before = copy(knn)
    spec = updatable.make_pipeline(extractor, knn)
    assert knn == knn_before  # the arguments are copied
    head = pipeline_models(spec)[1]
    assert [f.name for f in head.description.input] == ["features"]
    assert [f.name for f in head.description.trainingInput] == ["features", "label"]
    assert head.description.input[0].type == extractor.description.output[0].type
    assert head.description.trainingInput[0] == head.description.input[0]
    assert [f.name for f in spec.description.trainingInput] == ["input", "label"]
    assert errors(spec) == []


def test_without_adopting_the_type_core_ml_reports_a_mismatch():
    extractor = builders.nn_head_pipeline().pipelineClassifier.pipeline.models[0]
    spec = updatable.make_pipeline(extractor, make_knn_classifier(3, "none"))
    head = pipeline_models(spec)[1]
    head.description.input[0].type.multiArrayType.dataType = proto.ArrayFeatureType.FLOAT32
    assert [issue.result_type for issue in errors(spec)] == ["TYPE_MISMATCH"]


def test_updatable_nn_head_pipeline():
    """The ML Program workaround shape: frozen extractor + small updatable NN head."""
    source = builders.nn_head_pipeline()
    extractor, head = pipeline_models(source)
    head = copy(head)
    updatable.make_updatable(head, ["dense"])
    updatable.set_loss(head, "cross_entropy")
    updatable.set_optimizer(head, "sgd", learning_rate=0.001)
    updatable.set_epochs(head, 5)
    spec = updatable.make_pipeline(extractor, head)
    assert spec.WhichOneof("Type") == "pipelineClassifier" and spec.isUpdatable
    assert [f.name for f in spec.description.trainingInput] == ["input", "label"]
    assert [f.name for f in spec.description.output] == ["probs", "label"]
    assert errors(spec) == []


def test_nn_head_input_is_renamed_in_its_layers_too():
    extractor = builders.drawing_embedding(dims=4)
    head = builders.regressor_nn()  # input `x` Array(4)
    updatable.make_updatable(head, ["fc2"])
    updatable.set_loss(head, "mse")
    updatable.set_optimizer(head, "adam")
    updatable.set_epochs(head, 2)
    spec = updatable.make_pipeline(extractor, head)
    assert spec.WhichOneof("Type") == "pipelineRegressor"
    staged = pipeline_models(spec)[1]
    assert staged.neuralNetworkRegressor.layers[0].input[0] == "embedding"
    assert [f.name for f in spec.description.trainingInput] == ["drawing", "y_true"]
    assert errors(spec) == []


def test_not_updatable_head_gives_a_plain_pipeline():
    embedding = builders.drawing_embedding()
    spec = updatable.make_pipeline(embedding, make_knn_classifier(128, "x", updatable=False))
    assert not spec.isUpdatable and spec.specificationVersion == 4  # the kNN needs 4
    spec = updatable.make_pipeline(builders.drawing_embedding(dims=4), builders.regressor_nn())
    assert spec.specificationVersion == 1 and not spec.isUpdatable
    assert not spec.description.trainingInput


@pytest.mark.parametrize(
    "extractor, head, error, fragment",
    [
        (
            lambda: builders.empty_knn(3),
            lambda: make_knn_classifier(3, "x"),
            SurgeryError,
            "the feature extractor is marked updatable; only the last model",
        ),
        (
            builders.drawing_embedding,
            lambda: make_knn_classifier(64, "x"),
            SurgeryError,
            "the head's input 'embedding' has shape [64] but the feature extractor provides [128]",
        ),
        (
            builders.drawing_embedding,
            builders.nn_head_pipeline,
            UnsupportedModelError,
            "the head must be one of",
        ),
        (
            builders.drawing_embedding,
            builders.two_output_nn,
            SurgeryError,
            "the head's input 'embedding' has shape [3] but the feature extractor provides [128]",
        ),
        (
            builders.drawing_embedding,
            builders.conv_variants_nn,
            SurgeryError,
            "the head's input(s) ['input', 'kernel'] are neither outputs of the feature extractor "
            "['embedding'] nor its inputs ['drawing']",
        ),
    ],
)
def test_refusals(extractor, head, error, fragment):
    with pytest.raises(error) as info:
        updatable.make_pipeline(extractor(), head())
    assert fragment in str(info.value)


def test_linked_model_pipeline():
    """The linked-model example: model 0 links to TinyDrawingEmbedding.mlmodelc."""
    embedding = builders.drawing_embedding()
    link = updatable.make_linked_model(embedding, "TinyDrawingEmbedding.mlmodelc")
    assert link.specificationVersion == 4 and not link.isUpdatable
    files = link.linkedModel.linkedModelFile
    assert files.linkedModelFileName.defaultValue == "TinyDrawingEmbedding.mlmodelc"
    assert files.linkedModelSearchPath.defaultValue == ".:$BUNDLE_MAIN"
    assert list(link.description.input) == list(embedding.description.input)
    assert list(link.description.output) == list(embedding.description.output)
    spec = updatable.make_pipeline(link, drawing_knn())
    assert pipeline_models(spec)[0] == link
    assert spec.specificationVersion == 4
    assert errors(spec) == []


@pytest.mark.parametrize(
    "name, path, fragment",
    [
        ("", ".", "must not be empty"),
        ("models/Embedding.mlmodelc", ".", "must be a name, not a path"),
        ("Embedding.mlmodelc", None, "search_path must be a string"),
    ],
)
def test_linked_model_refusals(name, path, fragment):
    with pytest.raises(ParameterError, match=fragment):
        updatable.make_linked_model(builders.drawing_embedding(), name, path)
