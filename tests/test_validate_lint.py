"""Our own lint rules X1-X12 (docs/mlmodel-format.md §3): what Core ML accepts but bites on
devices."""

from __future__ import annotations

import numpy as np

from tests import builders
from updatable.spec import find_layer as layer
from updatable.validation import core_ml_issue, validate


def lint(spec, code):
    return [issue for issue in validate(spec) if issue.code == code]


def only(spec, code):
    found = lint(spec, code)
    assert len(found) == 1, f"expected one {code}, got {found}"
    assert found[0].result_type == ""
    return found[0]


def test_builder_output_gets_only_range_warnings():
    """coremltools writes [0, 1] ranges for every double: Core ML accepts them, but they let
    an app pass lr = 0 or momentum = 1."""
    issues = validate(builders.updatable_nn())
    assert [(i.code, i.severity, i.where) for i in issues] == [
        ("X5", "warning", "updateParams.optimizer.sgdOptimizer.learningRate"),
        ("X5", "warning", "updateParams.optimizer.sgdOptimizer.momentum"),
    ]
    assert issues[0].message == (
        "learningRate allowed range [0, 1] lets an app pass learningRate <= 0 (Core ML accepts "
        "it); fix: updatable make-updatable --lr-range MIN,MAX with MIN > 0"
    )


def test_x1_no_loss_layer_is_an_error():
    spec = builders.updatable_nn()
    spec.neuralNetwork.updateParams.ClearField("lossLayers")
    issue = only(spec, "X1")
    assert (issue.severity, issue.where) == ("error", "updateParams.lossLayers")
    assert "cannot train" in issue.message


def test_x2_half_precision_weights_in_any_layer():
    spec = builders.updatable_nn()
    for weights in (layer(spec, "ip2").innerProduct.weights, layer(spec, "ip2").innerProduct.bias):
        values = np.asarray(weights.floatValue, dtype=np.float16)  # not the first layer
        weights.ClearField("floatValue")  # FP16 weights and bias: Core ML refuses a mix (Y4)
        weights.float16Value = values.tobytes()
    assert core_ml_issue(spec) is None  # Core ML does not look
    issue = only(spec, "X2")
    assert (issue.severity, issue.where) == ("error", "layers['ip2']")
    assert "ip2" in issue.message and "weights" in issue.message
    spec.isUpdatable = False
    assert not lint(spec, "X2")


def test_x3_updatable_lstm_warning():
    spec = builders.updatable_nn()
    relu = layer(spec, "relu1")
    relu.ClearField("activation")
    relu.uniDirectionalLSTM.inputVectorSize = 3
    relu.isUpdatable = True
    issue = only(spec, "X3")
    assert (issue.severity, issue.where) == ("warning", "layers['relu1']")


def test_x4_grouped_or_deconvolution_updatable():
    spec = builders.updatable_mnist_example()
    conv = layer(spec, "conv2")
    conv.isUpdatable = True
    conv.convolution.weights.isUpdatable = conv.convolution.bias.isUpdatable = True
    assert core_ml_issue(spec) is None and not lint(spec, "X4")
    conv.convolution.nGroups = 2
    conv.convolution.isDeconvolution = True
    issue = only(spec, "X4")
    assert "nGroups=2, isDeconvolution" in issue.message
    assert issue.severity == "warning"


def test_x5_implausible_defaults():
    spec = builders.updatable_nn("cce", "adam")
    adam = spec.neuralNetwork.updateParams.optimizer.adamOptimizer
    adam.learningRate.ClearField("range")
    adam.learningRate.defaultValue = 0
    adam.beta1.ClearField("range")
    adam.beta1.defaultValue = 1.0
    adam.beta2.range.maxValue = 0.9999
    adam.eps.range.minValue = 1e-10
    assert core_ml_issue(spec) is None
    messages = [issue.message for issue in lint(spec, "X5")]
    assert messages == [
        "learningRate default 0 is not positive, so training stalls or diverges "
        "(Core ML accepts it); fix: updatable make-updatable --lr VALUE with VALUE > 0",
        "beta1 default 1 is outside [0, 1), so training stalls or diverges (Core ML accepts it); "
        "fix: updatable make-updatable --beta1 VALUE in [0, 1)",
    ]


def test_x6_cross_entropy_target_type():
    spec = builders.updatable_nn()
    assert not lint(spec, "X6")
    target = spec.description.trainingInput[1]
    target.type.multiArrayType.dataType = target.type.multiArrayType.DOUBLE
    assert core_ml_issue(spec) is None
    issue = only(spec, "X6")
    assert issue.where == "description.trainingInput['softmax_output_true']"


def test_x7_mse_target_shape():
    spec = builders.updatable_nn("mse")
    assert not lint(spec, "X7")
    spec.description.trainingInput[1].type.multiArrayType.shape[0] = 4
    assert core_ml_issue(spec) is None
    assert "[4]" in only(spec, "X7").message
    spec.description.trainingInput[1].type.Clear()
    spec.description.trainingInput[1].type.stringType.SetInParent()
    assert "stringType" in only(spec, "X7").message


def test_x8_duplicate_training_inputs():
    spec = builders.updatable_nn()
    spec.description.trainingInput.add().CopyFrom(spec.description.input[0])
    assert core_ml_issue(spec) is None
    issue = only(spec, "X8")
    assert issue.where == "description.trainingInput['input']"
    assert "2 times" in issue.message


def test_x9_updatable_knn_or_pipeline_without_training_inputs():
    spec = builders.tiny_drawing_pipeline()
    assert not lint(spec, "X9")
    spec.description.ClearField("trainingInput")
    assert core_ml_issue(spec) is None
    issue = only(spec, "X9")  # the kNN inside still lists its own
    assert issue.where == "description.trainingInput"


def test_x10_int64_set_tail_and_duplicates():
    spec = builders.updatable_nn()
    epochs = spec.neuralNetwork.updateParams.epochs
    epochs.set.values.extend([0, 10])
    assert core_ml_issue(spec) is None  # the scan stops at the default
    messages = [issue.message for issue in lint(spec, "X10")]
    assert messages == [
        "allowed set [10, 0, 10] of 'epochs' holds non-positive values [0] after the default, "
        "which Core ML's validator never reaches; remove them",
        "allowed set [10, 0, 10] of 'epochs' repeats [10]; list each value once",
    ]


def test_x11_duplicate_feature_names():
    spec = builders.base_nn()
    spec.description.input.add().CopyFrom(spec.description.input[0])
    assert core_ml_issue(spec) is None
    assert only(spec, "X11").where == "description.input['input']"


def test_x12_unnamed_layer():
    spec = builders.updatable_nn()
    layer(spec, "relu1").name = ""
    assert core_ml_issue(spec) is None
    assert only(spec, "X12").where == "layers[1]"


def test_lint_runs_inside_pipelines_after_the_core_ml_issue():
    spec = builders.tiny_drawing_pipeline()
    knn = spec.pipelineClassifier.pipeline.models[1]
    knn.description.ClearField("trainingInput")
    knn.kNearestNeighborsClassifier.ClearField("inverseDistanceWeighting")
    issues = validate(spec)
    assert [(i.code, i.where) for i in issues] == [
        ("K2", "models[1]/weightingScheme"),
        ("X9", "models[1]/description.trainingInput"),
    ]
    assert validate(spec, lint=False) == issues[:1]
