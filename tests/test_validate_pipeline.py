"""Pipelines P0-P9 with recursion into sub-models, and linked models L1-L3 (docs/mlmodel-format.md
§2.2, §6.3 P1-P3, §6.4; ports of the seven pipeline tests of UpdatableModelValidatorTests.cpp)."""

from __future__ import annotations

from tests import builders
from tests.issue_checks import expect_issue as expect
from updatable.validation import At, core_ml_issue, validate

UPD_CONFIG = "INVALID_UPDATABLE_MODEL_CONFIGURATION"
MODEL_PARAMS = "INVALID_MODEL_PARAMETERS"


def nn(source, target, updatable=False):
    spec = builders.chained_ip_nn(1, updatable, source, target)
    if updatable:
        builders.add_cce_with_softmax_and_sgd(spec, target)
    return spec


def knn(updatable=False):
    return builders.named_knn("D", "E", 3, "x", updatable=updatable)


def chain(*, knn_updatable=False, c_to_d_updatable=False, a_to_b_updatable=False, updatable=False):
    """A -> B -> C -> D (networks) -> kNN -> E, as in the C++ pipeline tests."""
    models = [
        nn("A", "B", a_to_b_updatable),
        nn("B", "C"),
        nn("C", "D", c_to_d_updatable),
        knn(knn_updatable),
    ]
    return builders.pipeline_spec(models, updatable=updatable)


def test_pipelines_of_valid_models():
    """Ports of NonUpdatablePipelineWithNonUpdatableModels and
    UpdatablePipelineWithOneUpdatableModel."""
    assert core_ml_issue(chain()) is None
    assert core_ml_issue(chain(knn_updatable=True, updatable=True)) is None
    for kind in ("pipelineClassifier", "pipelineRegressor"):
        models = [nn("A", "B"), nn("B", "C"), nn("C", "D"), knn(True)]
        assert core_ml_issue(builders.pipeline_spec(models, kind, updatable=True)) is None


def test_p0_no_models():
    spec = builders.pipeline_spec([knn()])
    del spec.pipeline.models[:]
    expect(spec, "P0", "Pipeline must contain one or more models.", MODEL_PARAMS, "models")


def test_p1_only_the_last_model_may_be_updatable():
    """Port of UpdatablePipelineWithMultipleUpdatableModels."""
    spec = chain(a_to_b_updatable=True, c_to_d_updatable=True, knn_updatable=True, updatable=True)
    expect(
        spec,
        "P1",
        "Only the last model in the pipeline can be updatable. Model at position '0' is marked "
        "as updatable.",
        UPD_CONFIG,
        "models[0]",
    )


def test_p1_updatable_network_then_updatable_knn():
    """§6.4: [updatable NN, updatable kNN] is P1 at position 0; with the network's model flag
    off but its layer flags kept, the pipeline is valid."""
    network = nn("C", "D", updatable=True)
    spec = builders.pipeline_spec([network, knn(True)], updatable=True)
    assert core_ml_issue(spec).code == "P1"
    spec.pipeline.models[0].isUpdatable = False
    assert spec.pipeline.models[0].neuralNetwork.layers[0].isUpdatable
    assert core_ml_issue(spec) is None


def test_p2_last_model_must_be_updatable():
    """Port of UpdatablePipelineWithNonUpdatableModels."""
    expect(
        chain(updatable=True),
        "P2",
        "Last model in an updatable pipeline model should be marked as updatable.",
        UPD_CONFIG,
        "models[3]",
    )


def test_p3_updatable_model_in_a_pipeline_that_is_not():
    """Port of NonUpdatablePipelineWithOneUpdatableModel; §6.4 (position 1)."""
    expect(
        chain(knn_updatable=True),
        "P3",
        "Found an updatable model at '3' inside a non-updatable pipeline.",
        UPD_CONFIG,
    )
    spec = builders.pipeline_spec([nn("C", "D"), knn(True)])
    assert (
        core_ml_issue(spec).message
        == "Found an updatable model at '1' inside a non-updatable pipeline."
    )


def test_nested_pipelines():
    """Ports of the two ...InsidePipelineHierarchy tests: the rules apply at every level, and
    a sub-model is validated in full, so the inner failure is the one reported."""
    inner = builders.pipeline_spec([nn("B", "C"), nn("C", "D", updatable=True)])
    spec = builders.pipeline_spec([nn("A", "B"), inner, knn()])
    assert core_ml_issue(inner).code == "P3"
    expect(
        spec,
        "P3",
        "Found an updatable model at '1' inside a non-updatable pipeline.",
        UPD_CONFIG,
        "models[1]/models[1]",
    )
    inner = builders.pipeline_spec([nn("C", "D"), knn(True)], updatable=True)
    spec = builders.pipeline_spec([nn("A", "B"), nn("B", "C"), inner], updatable=True)
    assert core_ml_issue(spec) is None


def test_sub_model_errors_carry_their_path():
    spec = chain()
    spec.pipeline.models[3].kNearestNeighborsClassifier.ClearField("uniformWeighting")
    expect(
        spec,
        "K2",
        "KNearestNeighborsClassifier requires a weighting scheme to be set.",
        MODEL_PARAMS,
        "models[3]/weightingScheme",
    )
    assert At().sub(1).sub(2).where("layers['x']") == "models[1]/models[2]/layers['x']"


def test_valid_pipeline_needs_a_loss_in_its_updatable_network():
    """Port of Valid_Pipeline: an updatable network without loss is bad, with one good."""
    network = builders.chained_ip_nn(1, True, "C", "D")
    spec = builders.pipeline_spec([nn("A", "B"), nn("B", "C"), network], updatable=True)
    issue = core_ml_issue(spec)
    assert (issue.code, issue.where) == ("C8", "models[2]/updateParams.optimizer")
    assert any(i.code == "X1" and i.where.startswith("models[2]/") for i in validate(spec))
    builders.add_cce_with_softmax_and_sgd(spec.pipeline.models[2], "D")
    assert core_ml_issue(spec) is None


def test_g4_applies_to_the_pipeline_itself():
    """coremltools' Pipeline.make_updatable leaves the pipeline at version 1 (§5.3)."""
    spec = chain(knn_updatable=True, updatable=True)
    spec.specificationVersion = 1
    expect(
        spec,
        "G4",
        "Model specification version for an updatable model must be '4' or above.",
        "INVALID_COMPATIBILITY_VERSION",
        "specificationVersion",
    )


def test_p4_p5_sub_model_inputs():
    spec = chain()
    spec.pipeline.models[1].description.input[0].name = "Z"
    spec.pipeline.models[1].neuralNetwork.layers[0].input[0] = "Z"
    expect(
        spec,
        "P4",
        "Pipeline: the input 'Z' of model 'CoreML.Specification.ModelDescription' does not "
        "present in pipeline input or previous model.",
        MODEL_PARAMS,
        "models[1]",
    )
    spec = chain()
    spec.pipeline.models[3].description.input[0].type.multiArrayType.shape[0] = 4
    spec.pipeline.models[3].kNearestNeighborsClassifier.nearestNeighborsIndex.numberOfDimensions = 4
    expect(
        spec,
        "P5",
        "Pipeline: the input 'D' of model 'CoreML.Specification.ModelDescription' does not match "
        "the type previously specified by the pipeline input or the output of a previous model. "
        "For the second case, make sure the input and previous model's output has the matching "
        "name and shapes.",
        "TYPE_MISMATCH",
        "models[3]",
    )


def test_p6_p7_pipeline_outputs():
    spec = chain()
    spec.description.output[0].name = "nowhere"
    expect(
        spec,
        "P6",
        "Pipeline output 'nowhere' not present in pipeline input or a contained model.",
        MODEL_PARAMS,
    )
    spec = chain()
    spec.description.output[0].type.Clear()
    spec.description.output[0].type.int64Type.SetInParent()
    expect(
        spec,
        "P7",
        "Type of pipeline output 'E' does not match type produced in pipeline input.",
        "TYPE_MISMATCH",
    )


def test_p8_p9_model_names():
    spec = chain()
    spec.pipeline.names.extend(["a", "b"])
    expect(
        spec,
        "P8",
        "The number of pipeline model names '2' doesn't match the number of models '4'",
        MODEL_PARAMS,
    )
    spec.pipeline.names.extend(["c", "a"])
    expect(
        spec,
        "P9",
        "Pipeline model name 'a' at index '3 has already been used for previous models",
        MODEL_PARAMS,
        "names[3]",
    )


def test_models_before_the_last_may_be_of_any_type():
    identity = builders.chained_ip_nn(1, False, "A", "B")
    identity.ClearField("neuralNetwork")
    identity.identity.SetInParent()
    spec = builders.pipeline_spec([identity, nn("B", "C"), nn("C", "D"), knn(True)], updatable=True)
    assert core_ml_issue(spec) is None
    spec.pipeline.models[0].isUpdatable = True
    assert core_ml_issue(spec).where == "models[0]/specificationVersion"  # G4 first
    spec.pipeline.models[0].specificationVersion = 4
    assert core_ml_issue(spec).where == "models[0]/isUpdatable"  # then G5


def test_linked_model_rules():
    spec = builders.tiny_drawing_pipeline(linked=True)
    assert core_ml_issue(spec) is None
    link = spec.pipelineClassifier.pipeline.models[0]
    link.linkedModel.linkedModelFile.linkedModelFileName.defaultValue = ""
    expect(
        spec,
        "L3",
        "LinkedModel.linkedModelFile.linkedModeFileName.defaultValue cannot be empty.",
        MODEL_PARAMS,
        "models[0]/linkedModel.linkedModelFile",
    )
    link.linkedModel.ClearField("linkedModelFile")
    link.linkedModel.SetInParent()
    expect(spec, "L2", "LinkedModel.LinkType not set.", MODEL_PARAMS)
