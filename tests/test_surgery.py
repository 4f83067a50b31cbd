"""make_updatable: parity with coremltools where it is right, and its fixed bugs."""

from __future__ import annotations

import pytest
from coremltools.models.neural_network import NeuralNetworkBuilder

import updatable
from tests import builders
from updatable import proto
from updatable.errors import (
    LayerNotFoundError,
    SurgeryError,
    UnsupportedLayerError,
    UnsupportedModelError,
)
from updatable.spec import pipeline_models


def copy(spec):
    duplicate = proto.Model()
    duplicate.CopyFrom(spec)
    return duplicate


def coremltools_make_updatable(spec, layers):
    builder = NeuralNetworkBuilder(spec=copy(spec))
    builder.make_updatable(layers)
    return builder.spec


def core_ml_errors(spec):
    return [issue for issue in updatable.validate(spec) if issue.result_type]


@pytest.mark.parametrize(
    "make, layers",
    [
        (builders.classifier_nn, ["dense1", "dense2"]),
        (builders.classifier_nn, ["dense2"]),
        (builders.base_nn, ["ip1", "ip2"]),
        (builders.regressor_nn, ["fc2"]),
        (builders.mnist_convnet, ["conv2", "dense_1", "dense_2"]),
    ],
)
def test_same_protobuf_as_coremltools(make, layers):
    spec = make()
    expected = coremltools_make_updatable(spec, layers)
    assert updatable.make_updatable(spec, layers) is spec
    assert spec == expected
    assert spec.SerializeToString() == expected.SerializeToString()


def test_layers_without_bias_get_no_empty_bias_message():
    """coremltools sets isUpdatable on *every* WeightParams field, creating `bias {}` on
    bias-less layers; we flag only the weights a layer stores. Everything else is equal."""
    spec = builders.chain_nn()
    expected = coremltools_make_updatable(spec, ["ip1", "ip2"])
    updatable.make_updatable(spec, ["ip1", "ip2"])
    for layer in spec.neuralNetwork.layers[:2]:
        assert not layer.innerProduct.HasField("bias")
        assert layer.isUpdatable and layer.innerProduct.weights.isUpdatable
    for layer in expected.neuralNetwork.layers[:2]:
        assert layer.innerProduct.bias == proto.WeightParams(isUpdatable=True)
        layer.innerProduct.ClearField("bias")
    assert spec == expected


def test_marks_model_version_and_shuffle_like_coremltools():
    """Port of test_shuffle_on_by_default and the flag checks of test_model_updatable.py."""
    spec = builders.chain_nn()
    assert spec.specificationVersion == 1
    updatable.make_updatable(spec, "ip2")
    assert spec.isUpdatable and spec.specificationVersion == 4
    update = spec.neuralNetwork.updateParams
    assert update.HasField("shuffle") and update.shuffle.defaultValue is True
    assert not update.HasField("seed")
    assert [layer.isUpdatable for layer in spec.neuralNetwork.layers] == [False, True, False]


def test_keeps_a_newer_version_and_an_explicit_shuffle_off():
    spec = builders.chain_nn()
    spec.specificationVersion = 7
    updatable.set_shuffle(spec, False)
    updatable.make_updatable(spec, ["ip1"])
    assert spec.specificationVersion == 7
    assert spec.neuralNetwork.updateParams.HasField("shuffle")
    assert spec.neuralNetwork.updateParams.shuffle.defaultValue is False
    # coremltools' make_updatable turns it back on
    theirs = coremltools_make_updatable(builders.chain_nn(), ["ip1"])
    assert theirs.neuralNetwork.updateParams.shuffle.defaultValue is True


def test_calls_add_up_and_repeat_harmlessly():
    spec = builders.classifier_nn()
    updatable.make_updatable(spec, ["dense2"])
    updatable.make_updatable(spec, ["dense1", "dense1"])
    once = copy(spec)
    updatable.make_updatable(spec, ["dense1", "dense2"])
    assert spec == once
    assert spec == coremltools_make_updatable(builders.classifier_nn(), ["dense1", "dense2"])


def test_unknown_layer_names_every_layer_that_exists():
    spec = builders.classifier_nn()
    before = copy(spec)
    with pytest.raises(LayerNotFoundError) as info:
        updatable.make_updatable(spec, ["dense2", "dense9", "fc"])
    message = str(info.value)
    assert "'dense9', 'fc'" in message
    assert "['dense1', 'relu1', 'dense2', 'softmax']" in message
    assert spec == before


@pytest.mark.parametrize("layer, kind", [("softmax", "softmax"), ("relu1", "activation")])
def test_unsupported_layer_kinds_are_refused(layer, kind):
    """Port of test_nn_set_softmax_updatable_invalid."""
    spec = builders.classifier_nn()
    before = copy(spec)
    with pytest.raises(UnsupportedLayerError) as info:
        updatable.make_updatable(spec, ["dense1", layer])
    assert str(info.value) == (
        f"layer '{layer}' has kind '{kind}'; only ['convolution', 'innerProduct', "
        "'uniDirectionalLSTM'] layers can be updatable"
    )
    assert spec == before


def test_fp16_weights_in_any_layer_are_refused():
    """coremltools inspects only the first layer (§5.5 bug 1): FP16 weights in ip2 pass its
    check even when ip1 is the layer being made updatable. We look at every layer."""
    spec = builders.fp16_nn(layers=("ip2",))
    coremltools_make_updatable(spec, ["ip1"])  # no error: the bug
    before = copy(spec)
    with pytest.raises(SurgeryError) as info:
        updatable.make_updatable(spec, ["ip1"])
    assert "layer(s) ['ip2'] store FP16 weights (float16Value)" in str(info.value)
    assert spec == before


def test_fp16_first_layer_is_refused_by_both():
    """Port of test_nn_fp16_make_updatable_fail."""
    spec = builders.fp16_nn(layers=("ip1", "ip2"))
    with pytest.raises(ValueError, match="FP16"):
        coremltools_make_updatable(spec, ["ip2"])
    with pytest.raises(SurgeryError, match=r"\['ip1', 'ip2'\] store FP16"):
        updatable.make_updatable(spec, ["ip2"])


def test_quantized_updatable_layer_is_refused_but_a_quantized_frozen_layer_is_fine():
    spec = builders.quantized_nn(layers=("ip1",))
    before = copy(spec)
    with pytest.raises(UnsupportedLayerError) as info:
        updatable.make_updatable(spec, ["ip1"])
    assert "layer 'ip1' has quantized weights" in str(info.value)
    assert spec == before
    # Core ML accepts quantized weights in layers that stay frozen (rule A2 looks only at
    # updatable layers), so the head of such a network can still train.
    updatable.make_updatable(spec, ["ip2"])
    updatable.set_loss(spec, "cross_entropy")
    updatable.set_optimizer(spec, "sgd")
    updatable.set_epochs(spec, 5)
    assert core_ml_errors(spec) == []


def test_dynamic_weight_convolution_is_refused():
    spec = builders.conv_variants_nn()
    with pytest.raises(UnsupportedLayerError, match="'dyn' has no stored weights"):
        updatable.make_updatable(spec, ["dyn"])


@pytest.mark.parametrize("layers", [[], "", [3]])
def test_layer_list_must_name_layers(layers):
    with pytest.raises(SurgeryError, match="non-empty list of layer names"):
        updatable.make_updatable(builders.base_nn(), layers)


def test_pipeline_last_model_is_made_updatable_with_the_pipeline():
    spec = builders.nn_head_pipeline()
    extractor_before = copy(pipeline_models(spec)[0])
    assert spec.specificationVersion == 1
    updatable.make_updatable(spec, ["dense"])
    extractor, head = pipeline_models(spec)
    assert spec.isUpdatable and spec.specificationVersion == 4  # coremltools leaves 1
    assert head.isUpdatable and head.specificationVersion == 4
    assert head.neuralNetworkClassifier.layers[0].isUpdatable
    assert extractor == extractor_before


def test_nested_pipelines_are_all_marked():
    inner = builders.nn_head_pipeline()
    outer = proto.Model(specificationVersion=1)
    outer.description.CopyFrom(inner.description)
    outer.pipelineClassifier.pipeline.models.add().CopyFrom(inner)
    updatable.make_updatable(outer, ["dense"])
    inner_after = pipeline_models(outer)[0]
    assert outer.isUpdatable and inner_after.isUpdatable
    assert outer.specificationVersion == inner_after.specificationVersion == 4
    assert pipeline_models(inner_after)[1].isUpdatable


def test_pipeline_with_an_updatable_model_before_the_last_is_refused():
    spec = builders.nn_head_pipeline()
    pipeline_models(spec)[0].isUpdatable = True
    before = copy(spec)
    with pytest.raises(SurgeryError, match=r"updatable model\(s\) at position\(s\) \[0\]"):
        updatable.make_updatable(spec, ["dense"])
    assert spec == before


def test_empty_pipeline_is_refused():
    spec = proto.Model(specificationVersion=4)
    spec.pipeline.SetInParent()
    with pytest.raises(UnsupportedModelError, match="make_updatable: the pipeline has no models"):
        updatable.make_updatable(spec, ["dense"])


def test_models_without_layers_are_refused_with_a_hint():
    pipeline = updatable.make_pipeline(builders.drawing_embedding(), builders.empty_knn(128))
    with pytest.raises(UnsupportedModelError, match="kNN classifier is updatable as a whole"):
        updatable.make_updatable(pipeline, ["dense"])
    program = proto.Model(specificationVersion=7)
    program.mlProgram.SetInParent()
    with pytest.raises(UnsupportedModelError, match="ML Programs cannot be updatable"):
        updatable.make_updatable(program, ["dense"])
    with pytest.raises(TypeError, match="expects a Core ML Model message"):
        updatable.make_updatable(b"not a spec", ["dense"])
