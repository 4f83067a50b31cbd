"""Training inputs of updatable neural networks, rules D1-D5 (docs/mlmodel-format.md §2.3 D; ports
of the Invalid_* / Valid_* training-input tests of UpdatableModelValidatorTests.cpp)."""

from __future__ import annotations

from tests import builders
from tests.issue_checks import expect_issue as expect
from updatable import proto
from updatable.validation import core_ml_issue, validate

UPD_CONFIG = "INVALID_UPDATABLE_MODEL_CONFIGURATION"


def training(spec, *entries):
    del spec.description.trainingInput[:]
    for entry in entries:
        spec.description.trainingInput.add().CopyFrom(entry)


def feature(name, kind="int32_1"):
    entry = proto.FeatureDescription(name=name)
    if kind == "int32_1":
        entry.type.multiArrayType.dataType = proto.ArrayFeatureType.INT32
        entry.type.multiArrayType.shape.append(1)
    else:
        getattr(entry.type, kind).SetInParent()
    return entry


def test_d1_only_the_target():
    spec = builders.updatable_nn()
    training(spec, feature("softmax_output_true"))
    expect(
        spec,
        "D1",
        "Must provide training inputs for updatable neural network (expecting both input and "
        "target for loss function).",
        UPD_CONFIG,
        "description.trainingInput",
    )
    training(spec)
    assert core_ml_issue(spec).code == "D1"


def test_d2_only_model_inputs():
    spec = builders.updatable_nn()
    model_input = spec.description.input[0]
    training(spec, model_input, model_input)
    expect(
        spec,
        "D2",
        "Training inputs don't describe required inputs for the loss (needs both the input and "
        "the target).",
        UPD_CONFIG,
    )


def test_d3_target_and_fake_model_inputs():
    spec = builders.updatable_nn()
    fake = proto.FeatureDescription()
    fake.CopyFrom(spec.description.input[0])
    fake.name = "madeUpInput"
    training(spec, fake, feature("softmax_output_true"))
    message = (
        "The training inputs must include at least one input from the model itself as required "
        "for training (should have at least one input in common with those used for "
        "prediction)."
    )
    expect(spec, "D3", message, UPD_CONFIG)


def test_d3_training_copy_with_another_dtype():
    spec = builders.updatable_nn()
    spec.description.trainingInput[0].type.multiArrayType.dataType = proto.ArrayFeatureType.FLOAT32
    assert core_ml_issue(spec).code == "D3"


def test_d5_target_renamed():
    spec = builders.updatable_nn()
    spec.description.trainingInput[1].name = "renamed"
    expect(
        spec,
        "D5",
        "The training inputs don't include the loss layer's target: softmax_output_true",
        UPD_CONFIG,
    )


def test_d_valid_variants():
    """Ports of Valid_1InferenceAnd3TrainingInputs, TargetOneOfTwoModelInputs and
    TargetUnusedOneOfTwoModelInput: extra unknown inputs are allowed, and not every model
    input needs to be listed."""
    spec = builders.updatable_nn()
    spec.description.trainingInput.add().CopyFrom(feature("madeUpInput", "doubleType"))
    spec.description.trainingInput.add().CopyFrom(feature("madeUpInput2", "stringType"))
    assert core_ml_issue(spec) is None
    spec = builders.updatable_nn()
    extra = spec.description.input.add()
    extra.CopyFrom(spec.description.input[0])
    extra.name = "fakeInput"
    assert core_ml_issue(spec) is None
    training(spec, extra, feature("softmax_output_true"))
    assert core_ml_issue(spec) is None  # the only listed model input is one the net ignores


def test_d_target_type_is_never_checked():
    spec = builders.updatable_nn("mse")
    spec.description.trainingInput[1].type.Clear()
    spec.description.trainingInput[1].type.stringType.SetInParent()
    assert core_ml_issue(spec) is None


def test_d4_classifier_label_wrong_type():
    spec = builders.updatable_classifier()
    label = spec.description.trainingInput[1]
    label.type.Clear()
    label.type.int64Type.SetInParent()
    expect(
        spec,
        "D4",
        "The type of the training input provided: label doesn't match the expected type of the "
        "classifier. Found: Int64, expected: String.",
        UPD_CONFIG,
        "description.trainingInput[1]",
    )
    # it fails at once, even when a later input would satisfy D5
    spec.description.trainingInput.add().CopyFrom(feature("probs_true"))
    assert core_ml_issue(spec).code == "D4"


def test_d_classifier_label_named_like_the_target():
    spec = builders.updatable_classifier()
    spec.description.trainingInput[1].name = "probs_true"
    assert core_ml_issue(spec) is None
    spec.description.trainingInput[1].CopyFrom(feature("probs_true"))
    assert core_ml_issue(spec) is None  # Valid_Classifier_Target


def test_d5_classifier_message():
    spec = builders.updatable_classifier()
    spec.description.trainingInput[1].name = "something_else"
    expect(
        spec,
        "D5",
        "The training inputs don't include the target of the classifier: label",
        UPD_CONFIG,
    )


def test_d_without_any_loss_layer_uses_an_empty_target():
    spec = builders.updatable_nn()
    spec.neuralNetwork.updateParams.ClearField("lossLayers")
    issue = core_ml_issue(spec)
    assert (issue.code, issue.message) == (
        "D5",
        "The training inputs don't include the loss layer's target: ",
    )
    assert any(i.code == "X1" and i.severity == "error" for i in validate(spec))
