"""set_loss: the loss layer and the training inputs Core ML expects."""

from __future__ import annotations

import contextlib
import io

import pytest
from coremltools.models import datatypes
from coremltools.models.neural_network import NeuralNetworkBuilder
from coremltools.models.neural_network.update_optimizer_utils import SgdParams

import updatable
from tests import builders
from updatable import IntParam, proto
from updatable.edit.training_config import PLAIN_RANGES
from updatable.errors import ParameterError, SurgeryError
from updatable.spec import pipeline_models


def copy(spec):
    duplicate = proto.Model()
    duplicate.CopyFrom(spec)
    return duplicate


def core_ml_errors(spec):
    return [issue for issue in updatable.validate(spec) if issue.result_type]


def quietly(call, *args):
    with contextlib.redirect_stdout(io.StringIO()):  # coremltools' loss setters print
        return call(*args)


def training_inputs(spec):
    return [(f.name, f.type) for f in spec.description.trainingInput]


def array_type(shape, dtype):
    feature_type = proto.FeatureType()
    feature_type.multiArrayType.shape.extend(shape)
    feature_type.multiArrayType.dataType = dtype
    return feature_type


def test_worked_example_matches_coremltools_byte_for_byte():
    """docs/mlmodel-format.md §5.6: the §5.6 classifier through both tool chains."""
    spec = builders.classifier_nn()
    updatable.make_updatable(spec, ["dense1", "dense2"])
    updatable.set_loss(spec, "cross_entropy", input="probs", name="lossLayer")
    updatable.set_optimizer(
        spec, "sgd", learning_rate=0.01, mini_batch_size=IntParam(8, choices=(4, 8, 16))
    )
    updatable.set_epochs(spec, IntParam(10, choices=(5, 10, 20)))
    updatable.set_shuffle(spec, True, seed=42)

    builder = NeuralNetworkBuilder(spec=builders.classifier_nn())
    builder.make_updatable(["dense1", "dense2"])
    quietly(builder.set_categorical_cross_entropy_loss, "lossLayer", "probs")
    sgd = SgdParams(lr=0.01, batch=8, momentum=0)
    # coremltools writes [0, 1] for both; ours are the lint-clean default ranges
    sgd.set_lr(0.01, *PLAIN_RANGES["learningRate"])
    sgd.set_momentum(0, *PLAIN_RANGES["momentum"])
    sgd.set_batch(8, [4, 8, 16])
    builder.set_sgd_optimizer(sgd)
    builder.set_epochs(10, [5, 10, 20])
    builder.set_shuffle(seed=42)

    assert spec.SerializeToString() == builder.spec.SerializeToString()
    update = spec.neuralNetworkClassifier.updateParams
    assert [
        (loss.name, loss.categoricalCrossEntropyLossLayer.target) for loss in update.lossLayers
    ] == [("lossLayer", "probs_true")]
    label = proto.FeatureType()
    label.stringType.SetInParent()
    assert training_inputs(spec) == [
        ("image", array_type([4], proto.ArrayFeatureType.DOUBLE)),
        ("label", label),
    ]
    assert update.optimizer.sgdOptimizer.HasField("momentum")
    assert core_ml_errors(spec) == []


def test_cross_entropy_on_a_plain_network_adds_an_int32_target():
    spec = builders.chain_nn()
    builder = NeuralNetworkBuilder(spec=copy(spec))
    quietly(builder.set_categorical_cross_entropy_loss, "lossLayer", "output")
    updatable.set_loss(spec, "cross_entropy")  # the only softmax output is chosen
    assert spec == builder.spec
    assert training_inputs(spec) == [
        ("input", array_type([3], proto.ArrayFeatureType.DOUBLE)),
        ("output_true", array_type([1], proto.ArrayFeatureType.INT32)),
    ]


def test_mse_matches_coremltools_and_writes_a_double_target():
    """Ports of test_updatable_model_creation_mse_* and test_nn_set_training_input."""
    spec = builders.chain_nn(softmax=False)
    builder = NeuralNetworkBuilder(spec=copy(spec))
    quietly(builder.set_mean_squared_error_loss, "lossLayer", ("output", datatypes.Array(3)))
    updatable.set_loss(spec, "mse")
    assert spec == builder.spec
    loss = spec.neuralNetwork.updateParams.lossLayers[0]
    assert loss.WhichOneof("LossLayerType") == "meanSquaredErrorLossLayer"
    assert loss.meanSquaredErrorLossLayer.target == "output_true"
    assert training_inputs(spec)[1] == (
        "output_true",
        array_type([3], proto.ArrayFeatureType.DOUBLE),
    )


def test_int64_classifier_label_keeps_its_type():
    spec = builders.classifier_nn(labels=(10, 20))
    updatable.set_loss(spec, "cce")
    label = proto.FeatureType()
    label.int64Type.SetInParent()
    assert training_inputs(spec)[1] == ("label", label)


def test_repeated_calls_never_duplicate_training_inputs_or_losses():
    """coremltools extends trainingInput on every call (§5.5 bug 5)."""
    spec = builders.chain_nn()
    builder = NeuralNetworkBuilder(spec=copy(spec))
    quietly(builder.set_categorical_cross_entropy_loss, "loss1", "output")
    quietly(builder.set_categorical_cross_entropy_loss, "loss2", "output")
    assert len(builder.spec.description.trainingInput) == 4
    assert len(builder.nn_spec.updateParams.lossLayers) == 2

    updatable.set_loss(spec, "cross_entropy", name="loss1")
    updatable.set_loss(spec, "cross_entropy", name="loss2")
    assert [f.name for f in spec.description.trainingInput] == ["input", "output_true"]
    assert [loss.name for loss in spec.neuralNetwork.updateParams.lossLayers] == ["loss2"]


def test_replacing_cross_entropy_by_mse_rebuilds_the_training_inputs():
    spec = builders.chain_nn()
    spec.description.input[0].shortDescription = "three numbers"
    updatable.set_loss(spec, "cross_entropy")
    updatable.set_loss(spec, "mse", input="ip2_out", shape=(3,))
    update = spec.neuralNetwork.updateParams
    assert len(update.lossLayers) == 1
    assert update.lossLayers[0].meanSquaredErrorLossLayer.input == "ip2_out"
    assert [f.name for f in spec.description.trainingInput] == ["input", "ip2_out_true"]
    assert spec.description.trainingInput[0].shortDescription == "three numbers"


def test_the_order_of_the_edits_does_not_matter():
    first = builders.classifier_nn()
    updatable.set_loss(first, "cross_entropy")
    updatable.make_updatable(first, ["dense2"])
    second = builders.classifier_nn()
    updatable.make_updatable(second, ["dense2"])
    updatable.set_loss(second, "cross_entropy")
    assert first == second


@pytest.mark.parametrize(
    "make, kwargs, fragment",
    [
        (
            builders.chain_nn,
            {"input": "hidden"},
            "cross-entropy input 'hidden' must be the output of a softmax layer (Core ML rule C4), "
            "but it is produced by 'ip1' (innerProduct); softmax outputs: ['output']",
        ),
        (builders.chain_nn, {"input": "ip2_out"}, "produced by 'ip2' (innerProduct)"),
        (builders.chain_nn, {"input": "input"}, "but it is a model input"),
        (builders.chain_nn, {"input": "nothing"}, "but it is not produced by any layer"),
        (
            builders.chain_nn,
            {"name": "ip1"},
            "loss layer name 'ip1' is already a layer name; Core ML needs unique names (rule B1)",
        ),
        (builders.chain_nn, {"shape": (3,)}, "shape applies to the MSE loss only"),
        (builders.chain_nn, {"loss": "hinge"}, "unknown loss 'hinge'; choose one of"),
        (
            builders.chain_nn,
            {"loss": "mse", "input": "input"},
            "MSE input 'input' is not produced by any layer (Core ML rule C6)",
        ),
        (
            builders.chain_nn,
            {"loss": "mse", "input": "hidden"},
            "MSE input 'hidden' is not a model output with a declared shape; pass shape=(...)",
        ),
        (
            builders.chain_nn,
            {"loss": "mse", "shape": (4,)},
            "MSE target shape [4] differs from output 'output' shape [3]",
        ),
        (builders.chain_nn, {"loss": "mse", "shape": (0,)}, "must be positive integers"),
        (
            builders.two_output_nn,
            {"loss": "mse", "input": "output"},
            "the loss target 'output_true' is already a blob produced by a layer",
        ),
        (
            builders.two_output_nn,
            {"loss": "mse"},
            "the network has 2 multiArray model outputs produced",
        ),
        (builders.mnist_convnet, {"loss": "mse"}, "the network has 0 multiArray model outputs"),
    ],
)
def test_bad_arguments_raise_and_change_nothing(make, kwargs, fragment):
    """Ports of test_nn_set_cce_without_softmax_fail and test_nn_set_cce_invalid, and more."""
    spec = make()
    before = copy(spec)
    with pytest.raises((SurgeryError, ParameterError)) as info:
        updatable.set_loss(spec, **kwargs)
    assert fragment in str(info.value)
    assert spec == before


def test_coremltools_mse_setter_half_writes_ours_does_not():
    """§5.5 bug 6: coremltools appends the loss layer before refusing the target."""
    theirs = NeuralNetworkBuilder(spec=builders.two_output_nn())
    with pytest.raises(ValueError, match="must not be a model output"):
        quietly(theirs.set_mean_squared_error_loss, "lossLayer", ("output", datatypes.Array(3)))
    assert len(theirs.nn_spec.updateParams.lossLayers) == 1  # the half-written loss

    ours = builders.two_output_nn()
    with pytest.raises(SurgeryError):
        updatable.set_loss(ours, "mse", input="output")
    assert not ours.neuralNetwork.HasField("updateParams")


def test_pipeline_gets_training_inputs_for_its_own_inputs():
    spec = builders.nn_head_pipeline()
    updatable.make_updatable(spec, ["dense"])
    updatable.set_loss(spec, "cross_entropy")
    updatable.set_optimizer(spec, "adam")
    updatable.set_epochs(spec, 4)
    head = pipeline_models(spec)[1]
    assert [f.name for f in head.description.trainingInput] == ["features", "label"]
    assert [f.name for f in spec.description.trainingInput] == ["input", "label"]
    assert spec.description.trainingInput[0] == spec.description.input[0]
    assert core_ml_errors(spec) == []


def test_mnist_example_trains_both_dense_layers():
    """The updatable MNIST example (§6.5): dense_1 and dense_2, CCE on the probabilities,
    SGD lr 0.01 batch 32, 10 epochs; the training label is `digit` (String)."""
    spec = builders.mnist_convnet(image_input=True)
    updatable.make_updatable(spec, ["dense_1", "dense_2"])
    updatable.set_loss(spec, "cross_entropy", input="digitProbabilities")
    updatable.set_optimizer(spec, "sgd", learning_rate=0.01, mini_batch_size=32)
    updatable.set_epochs(spec, 10)
    loss = spec.neuralNetworkClassifier.updateParams.lossLayers[0]
    assert loss.categoricalCrossEntropyLossLayer.target == "digitProbabilities_true"
    image, digit = spec.description.trainingInput
    assert image == spec.description.input[0]
    assert image.type.imageType.colorSpace == proto.ImageFeatureType.GRAYSCALE
    assert digit.name == "digit" and digit.type.WhichOneof("Type") == "stringType"
    assert core_ml_errors(spec) == []
