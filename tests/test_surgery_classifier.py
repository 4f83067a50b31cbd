"""expand_classifier and reinitialize."""

from __future__ import annotations

import math

import numpy as np
import pytest

import updatable
from tests import builders
from tests.optional import needs, optional_import
from updatable import proto
from updatable.errors import (
    LayerNotFoundError,
    ParameterError,
    SurgeryError,
    UnsupportedLayerError,
    UnsupportedModelError,
)

torch = optional_import("torch")


def copy(spec):
    duplicate = proto.Model()
    duplicate.CopyFrom(spec)
    return duplicate


def layer(spec, name):
    network = getattr(spec, spec.WhichOneof("Type"))
    return next(item for item in network.layers if item.name == name)


def dense_logits(spec, name, x):
    """innerProduct forward from the stored weights: W [out, in] row-major, plus bias."""
    params = layer(spec, name).innerProduct
    weights = np.array(params.weights.floatValue).reshape(params.outputChannels, -1)
    return weights @ x + np.array(params.bias.floatValue)


def core_ml_errors(spec):
    return [issue for issue in updatable.validate(spec) if issue.result_type]


def test_expand_keeps_old_weights_adds_zero_rows_and_placeholder_labels():
    spec = builders.classifier_nn()
    before = copy(spec)
    updatable.expand_classifier(spec, "dense2", 5)
    params = layer(spec, "dense2").innerProduct
    assert params.outputChannels == 5
    old = layer(before, "dense2").innerProduct
    assert list(params.weights.floatValue)[:6] == list(old.weights.floatValue)
    assert list(params.weights.floatValue)[6:] == [0.0] * 9
    assert list(params.bias.floatValue) == [*old.bias.floatValue, 0.0, 0.0, 0.0]
    labels = list(spec.neuralNetworkClassifier.stringClassLabels.vector)
    assert labels == ["cat", "dog", "user0", "user1", "user2"]
    x = np.random.default_rng(1).standard_normal(3)
    logits = dense_logits(spec, "dense2", x)
    np.testing.assert_allclose(logits[:2], dense_logits(before, "dense2", x), rtol=1e-6)
    assert list(logits[2:]) == [0.0, 0.0, 0.0]  # new classes start at logit 0
    assert core_ml_errors(spec) == []


def test_expanded_head_can_then_be_prepared_for_training():
    """Hollemans' make_nn pattern: widen to 10, placeholder labels, train the head."""
    spec = builders.classifier_nn(labels=("cat", "dog", "bird"))
    updatable.expand_classifier(spec, updatable.classifier_head(spec), 10)
    labels = list(spec.neuralNetworkClassifier.stringClassLabels.vector)
    assert labels[3:] == [f"user{i}" for i in range(7)]
    updatable.make_updatable(spec, ["dense2"])
    updatable.set_loss(spec, "cross_entropy")
    updatable.set_optimizer(
        spec,
        "sgd",
        learning_rate=0.001,
        mini_batch_size=updatable.IntParam(8, choices=(1, 2, 8, 16)),
    )
    updatable.set_epochs(spec, updatable.IntParam(10, choices=(1, 10, 50)))
    assert core_ml_errors(spec) == []


@pytest.mark.parametrize(
    "labels, expected",
    [
        (["fox", "owl"], ["cat", "dog", "fox", "owl"]),
        (["cat", "dog", "fox", "owl"], ["cat", "dog", "fox", "owl"]),
        (None, ["cat", "dog", "user0", "user1"]),
    ],
)
def test_expand_with_labels(labels, expected):
    spec = builders.classifier_nn()
    updatable.expand_classifier(spec, "dense2", 4, labels=labels)
    assert list(spec.neuralNetworkClassifier.stringClassLabels.vector) == expected


def test_placeholders_skip_existing_names_and_int64_labels_count_on():
    spec = builders.classifier_nn(labels=("user0", "cat"))
    updatable.expand_classifier(spec, "dense2", 4)
    assert list(spec.neuralNetworkClassifier.stringClassLabels.vector)[2:] == ["user1", "user2"]
    numbered = builders.classifier_nn(labels=(3, 7))
    updatable.expand_classifier(numbered, "dense2", 5)
    assert list(numbered.neuralNetworkClassifier.int64ClassLabels.vector) == [3, 7, 8, 9, 10]
    updatable.expand_classifier(numbered, "dense2", 6, labels=[np.int64(42)])
    assert numbered.neuralNetworkClassifier.int64ClassLabels.vector[-1] == 42


def test_expand_a_1x1_convolution_head_through_a_flatten():
    spec = builders.conv_head_classifier()
    assert updatable.classifier_head(spec) == "head"
    before = copy(spec)
    updatable.expand_classifier(spec, "head", 6)
    params = layer(spec, "head").convolution
    old = layer(before, "head").convolution
    # weights are [out, in, 1, 1]: three new output rows of 5 zeros at the end
    assert params.outputChannels == 6
    assert list(params.weights.floatValue) == [*old.weights.floatValue] + [0.0] * 15
    assert list(params.bias.floatValue)[3:] == [0.0] * 3
    assert core_ml_errors(spec) == []


def test_outputs_describing_widened_blobs_are_updated():
    spec = builders.classifier_with_logits_output()
    updatable.expand_classifier(spec, "dense", 4)
    outputs = {feature.name: feature.type for feature in spec.description.output}
    assert list(outputs["logits"].multiArrayType.shape) == [4]
    assert outputs["probs"].WhichOneof("Type") == "dictionaryType"
    assert core_ml_errors(spec) == []


@pytest.mark.parametrize(
    "make, args, kwargs, error, fragment",
    [
        (
            builders.classifier_nn,
            ("dense2", 2),
            {},
            ParameterError,
            "num_classes must be larger than the current 2 outputs of 'dense2'; got 2",
        ),
        (builders.classifier_nn, ("dense2", 4.0), {}, ParameterError, "must be an integer"),
        (
            builders.classifier_nn,
            ("dense1", 5),
            {},
            SurgeryError,
            "layer 'dense1' does not feed the classifier's softmax",
        ),
        (
            builders.classifier_nn,
            ("relu1", 5),
            {},
            UnsupportedLayerError,
            "layer 'relu1' has kind 'activation'; expected innerProduct or convolution",
        ),
        (builders.classifier_nn, ("dense9", 5), {}, LayerNotFoundError, "no layer named 'dense9'"),
        (
            builders.classifier_nn,
            ("dense2", 4),
            {"labels": ["fox"]},
            ParameterError,
            "expected 2 new labels (or all 4 starting with the current ['cat', 'dog']); got 1",
        ),
        (
            builders.classifier_nn,
            ("dense2", 4),
            {"labels": ["fox", 3]},
            ParameterError,
            "the classifier has String labels; got [3]",
        ),
        (
            builders.classifier_nn,
            ("dense2", 4),
            {"labels": ["fox", "cat"]},
            ParameterError,
            "class labels must be unique; repeated: ['cat']",
        ),
        (
            builders.classifier_nn,
            ("dense2", 4),
            {"labels": "fox"},
            ParameterError,
            "not one string",
        ),
        (
            lambda: builders.classifier_nn(labels=(1, 2)),
            ("dense2", 3),
            {"labels": ["x"]},
            ParameterError,
            "the classifier has Int64 labels; got ['x']",
        ),
        (
            lambda: builders.classifier_nn(labels=(1, 2)),
            ("dense2", 3),
            {"labels": [2**63]},
            ParameterError,
            "signed 64-bit",
        ),
        (
            builders.mnist_convnet,
            ("conv2", 20),
            {},
            UnsupportedLayerError,
            "only a 1x1 convolution can act as a classifier layer",
        ),
        (builders.base_nn, ("ip2", 5), {}, UnsupportedModelError, "expand_classifier needs"),
    ],
)
def test_expand_refusals_change_nothing(make, args, kwargs, error, fragment):
    spec = make()
    before = copy(spec)
    with pytest.raises(error) as info:
        updatable.expand_classifier(spec, *args, **kwargs)
    assert fragment in str(info.value)
    assert spec == before


def test_fp16_head_cannot_be_widened():
    spec = builders.fp16_nn(layers=("ip2",))
    classifier = builders.classifier_nn(labels=("a", "b", "c"))
    classifier.neuralNetworkClassifier.layers[2].innerProduct.CopyFrom(
        spec.neuralNetwork.layers[2].innerProduct
    )
    with pytest.raises(UnsupportedLayerError, match="must store 9 float32 weights"):
        updatable.expand_classifier(classifier, "dense2", 5)


@needs("torch")
def test_kaiming_uniform_bounds_match_torch_and_are_deterministic():
    spec = builders.mnist_convnet()
    updatable.reinitialize(spec, "dense_1", seed=3)
    params = layer(spec, "dense_1").innerProduct
    weights = np.array(params.weights.floatValue)
    bias = np.array(params.bias.floatValue)
    reference = torch.empty(32, 2304, dtype=torch.float64)
    fan_in = torch.nn.init._calculate_correct_fan(reference, "fan_in")
    bound = torch.nn.init.calculate_gain("relu") * math.sqrt(3.0 / fan_in)
    assert bound == pytest.approx(math.sqrt(6 / 2304))
    assert np.abs(weights).max() <= bound and np.abs(weights).max() > 0.99 * bound
    # a uniform on [-b, b] has variance b^2 / 3; 73,728 draws pin it to about 1%
    assert weights.var() == pytest.approx(bound**2 / 3, rel=0.03)
    assert abs(weights.mean()) < 0.01 * bound
    torch_weights = torch.nn.init.kaiming_uniform_(reference, nonlinearity="relu").numpy()
    assert torch_weights.var() == pytest.approx(weights.var(), rel=0.03)
    assert np.abs(bias).max() <= 1 / math.sqrt(2304) and len(set(bias)) == 32
    again = builders.mnist_convnet()
    updatable.reinitialize(again, "dense_1", seed=3)
    assert again == spec
    other = builders.mnist_convnet()
    updatable.reinitialize(other, "dense_1", seed=4)
    assert list(layer(other, "dense_1").innerProduct.weights.floatValue) != list(weights)


@pytest.mark.parametrize(
    "name, torch_shape",
    [("grouped", (6, 2, 3, 2)), ("conv2", None)],
)
@needs("torch")
def test_convolution_fan_in_is_cin_over_groups_times_kernel(name, torch_shape):
    spec = builders.conv_variants_nn() if name == "grouped" else builders.mnist_convnet()
    params = layer(spec, name).convolution
    shape = torch_shape or (params.outputChannels, params.kernelChannels, 3, 3)
    fan_in = torch.nn.init._calculate_correct_fan(torch.empty(shape), "fan_in")
    updatable.reinitialize(spec, name, seed=0)
    weights = np.array(layer(spec, name).convolution.weights.floatValue)
    assert weights.size == math.prod(shape)
    assert np.abs(weights).max() <= math.sqrt(6 / fan_in)
    assert np.abs(weights).max() > 0.9 * math.sqrt(6 / fan_in)
    bias = np.array(layer(spec, name).convolution.bias.floatValue)
    assert np.abs(bias).max() <= 1 / math.sqrt(fan_in)


def test_zeros_and_fp16_storage_is_replaced_by_float32_keeping_flags():
    spec = builders.fp16_nn(layers=("ip1", "ip2"))
    layer(spec, "ip2").innerProduct.weights.isUpdatable = True
    updatable.reinitialize(spec, "ip2", scheme="zeros")
    weights = layer(spec, "ip2").innerProduct.weights
    assert list(weights.floatValue) == [0.0] * 9 and not weights.float16Value
    assert weights.isUpdatable
    assert list(layer(spec, "ip2").innerProduct.bias.floatValue) == [0.0] * 3
    updatable.reinitialize(spec, "ip1")  # and now the network can be made updatable
    updatable.make_updatable(spec, ["ip1", "ip2"])


@pytest.mark.parametrize(
    "kwargs, error, fragment",
    [
        (
            {"layer": "ip1", "scheme": "xavier"},
            ParameterError,
            "unknown initialisation scheme 'xavier'; choose one of ['kaiming_uniform', 'zeros']",
        ),
        ({"layer": "ip1", "seed": -1}, ParameterError, "seed must be a non-negative integer"),
        ({"layer": "softmax"}, UnsupportedLayerError, "layer 'softmax' has kind 'softmax'"),
        ({"layer": "nope"}, LayerNotFoundError, "no layer named 'nope'"),
    ],
)
def test_reinitialize_refusals_change_nothing(kwargs, error, fragment):
    spec = builders.base_nn()
    before = copy(spec)
    with pytest.raises(error) as info:
        updatable.reinitialize(spec, **kwargs)
    assert fragment in str(info.value)
    assert spec == before


def test_classifier_head_of_the_examples():
    assert updatable.classifier_head(builders.classifier_nn()) == "dense2"
    assert updatable.classifier_head(builders.mnist_convnet()) == "dense_2"
    no_softmax = builders.classifier_with_logits_output()
    no_softmax.neuralNetworkClassifier.labelProbabilityLayerName = "logits"
    with pytest.raises(SurgeryError, match="cannot find the classifier's head"):
        updatable.classifier_head(no_softmax)


def test_expand_and_reinitialize_reach_the_head_of_a_pipeline():
    spec = builders.nn_head_pipeline()
    updatable.expand_classifier(spec, "dense", 4, labels=["fox", "owl"])
    updatable.reinitialize(spec, "dense", seed=1)
    head = spec.pipelineClassifier.pipeline.models[1].neuralNetworkClassifier
    assert head.layers[0].innerProduct.outputChannels == 4
    assert list(head.stringClassLabels.vector) == ["cat", "dog", "fox", "owl"]
    assert core_ml_errors(spec) == []
