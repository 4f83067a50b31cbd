"""Neural-network rules: ordinary checks N1-N11, updatable layers A1-A4 and names B1
(docs/mlmodel-format.md §2.3, §6.3, §6.4); training inputs D1-D5 are in
test_validate_training_inputs."""

from __future__ import annotations

import pytest

from tests import builders
from tests.issue_checks import expect_issue as expect
from updatable import proto
from updatable.spec import find_layer as layer
from updatable.validation import core_ml_issue, validate

UPD_PARAMS = "INVALID_UPDATABLE_MODEL_PARAMETERS"
UPD_CONFIG = "INVALID_UPDATABLE_MODEL_CONFIGURATION"
MODEL_PARAMS = "INVALID_MODEL_PARAMETERS"
INTERFACE = "INVALID_MODEL_INTERFACE"


# --- A: updatable layers -------------------------------------------------------------------


def test_a1_activation_marked_updatable():
    spec = builders.updatable_nn()
    layer(spec, "relu1").isUpdatable = True
    expect(
        spec,
        "A1",
        "The layer named 'relu1' is marked as updatable, however it is not supported as the type "
        "of this layer is neither convolution nor inner-product.",
        UPD_PARAMS,
        "layers['relu1']",
    )


def test_a1_embedding_marked_updatable():
    """Port of WrongLayer: an updatable embedding layer."""
    spec = builders.chained_ip_nn(1, True)
    ids = spec.description.input.add(name="ids")  # one index per example, as Core ML requires
    ids.type.multiArrayType.shape.append(1)
    ids.type.multiArrayType.dataType = proto.ArrayFeatureType.ArrayDataType.Value("FLOAT32")
    embed = spec.neuralNetwork.layers.add(name="embed", isUpdatable=True)
    embed.input.append("ids")
    embed.output.append("E")
    embed.embedding.inputDim, embed.embedding.outputChannels = 5, 3
    embed.embedding.weights.floatValue.extend([0.0] * 15)  # Core ML checks its size (Y4)
    assert core_ml_issue(spec).message.startswith("The layer named 'embed' is marked as updatable")


def test_a1_reports_the_first_offending_layer():
    spec = builders.updatable_nn()
    layer(spec, "softmax").isUpdatable = True
    layer(spec, "relu1").isUpdatable = True
    layer(spec, "ip1").innerProduct.bias.isUpdatable = False
    assert core_ml_issue(spec).where == "layers['ip1']"  # A3 on ip1 comes first in layer order


def test_a2_quantized_weights_or_bias():
    for field in ("weights", "bias"):
        spec = builders.updatable_nn()
        getattr(layer(spec, "ip2").innerProduct, field).quantization.numberOfBits = 8
        expect(
            spec,
            "A2",
            "An updatable layer, named 'ip2', has quantized weights/bias param. Quantized "
            "weights/bias not supported for update.",
            UPD_PARAMS,
        )


def test_a2_quantized_non_updatable_layer_is_fine():
    spec = builders.updatable_nn()
    ip1 = layer(spec, "ip1")
    ip1.isUpdatable = False
    ip1.innerProduct.weights.quantization.numberOfBits = 8
    assert core_ml_issue(spec) is None


def test_a2_bias_quantization_ignored_without_has_bias():
    spec = builders.updatable_nn()
    ip1 = layer(spec, "ip1").innerProduct
    ip1.hasBias = False
    ip1.bias.quantization.numberOfBits = 8
    ip1.bias.isUpdatable = False
    assert core_ml_issue(spec) is None


@pytest.mark.parametrize("field", ["weights", "bias"])
def test_a3_weight_flags(field):
    spec = builders.updatable_nn()
    getattr(layer(spec, "ip1").innerProduct, field).isUpdatable = False
    expect(
        spec,
        "A3",
        "An updatable layer, named 'ip1', has a weight/bias param which is not marked as "
        "updatable.",
        UPD_PARAMS,
    )


def test_a3_missing_bias_fails_on_the_weights_flag():
    """Port of MissingBias: no bias is fine, but the weights flag is still required."""
    spec = builders.updatable_nn()
    ip1 = layer(spec, "ip1").innerProduct
    ip1.hasBias = False
    ip1.ClearField("bias")
    assert core_ml_issue(spec) is None
    ip1.weights.isUpdatable = False
    assert core_ml_issue(spec).code == "A3"


def test_a4_no_updatable_layer():
    spec = builders.updatable_nn()
    for item in spec.neuralNetwork.layers:
        item.isUpdatable = False
    expect(
        spec,
        "A4",
        "The model is marked as updatable, but none of the layers are updatable.",
        UPD_PARAMS,
        "layers",
    )


def test_updatable_lstm_gets_no_weight_checks():
    spec = builders.updatable_nn()
    relu = layer(spec, "relu1")
    relu.ClearField("activation")
    lstm = relu.uniDirectionalLSTM
    lstm.inputVectorSize = lstm.outputVectorSize = 3
    for field in ("Weight", "Recursion"):  # what Core ML's per-layer checks require (Y4, Y5)
        for gate in ("inputGate", "forgetGate", "blockInput", "outputGate"):
            getattr(lstm.weightParams, f"{gate}{field}Matrix").floatValue.extend([0.0] * 9)
    for _ in range(3):
        lstm.activations.add().sigmoid.SetInParent()
    relu.output.extend(["h_out", "c_out"])  # an LSTM has three outputs (Y2)
    relu.isUpdatable = True  # no weight flags at all
    assert core_ml_issue(spec) is None
    assert [i.code for i in validate(spec) if i.code == "X3"] == ["X3"]


def test_updatable_rules_skip_models_not_marked_updatable():
    spec = builders.updatable_nn()
    spec.isUpdatable = False
    layer(spec, "relu1").isUpdatable = True
    spec.neuralNetwork.updateParams.ClearField("optimizer")
    assert core_ml_issue(spec) is None


# --- B ---------------------------------------------------------------------------------------


def test_b1_loss_named_like_a_layer():
    spec = builders.updatable_nn()
    spec.neuralNetwork.updateParams.lossLayers[0].name = "ip1"
    expect(
        spec,
        "B1",
        "The updatable model has a name collision for: 'ip1', i.e., there are more than one "
        "layers or loss layers with this name.",
        UPD_PARAMS,
        "updateParams.lossLayers['ip1']",
    )


def test_b1_two_layers_with_one_name():
    spec = builders.updatable_nn()
    layer(spec, "relu1").name = "softmax"
    assert core_ml_issue(spec).where == "layers['softmax']"


# --- N: ordinary network checks ------------------------------------------------------------


def test_n1_plain_network_outputs_are_arrays_or_images():
    """Port of Invalid_OnlyPredictedFeatureName: a plain network with a String output fails
    for a reason unrelated to training inputs."""
    spec = builders.updatable_nn()
    extra = spec.description.output.add(name="predictedFeatures")
    extra.type.stringType.SetInParent()
    expect(
        spec,
        "N1",
        "Neural Networks require outputs to be images or MLMultiArray.",
        INTERFACE,
        "description.output",
    )


@pytest.mark.parametrize(
    ("mutate", "message", "result_type"),
    [
        (
            lambda s: s.neuralNetworkClassifier.ClearField("stringClassLabels"),
            "Classifier models must provide class labels.",
            MODEL_PARAMS,
        ),
        (
            lambda s: s.neuralNetworkClassifier.stringClassLabels.ClearField("vector"),
            "Classifier declared to have String class labels must provide labels.",
            MODEL_PARAMS,
        ),
        (
            lambda s: setattr(s.description, "predictedFeatureName", ""),
            "Specification is missing classifier predictedFeatureName",
            INTERFACE,
        ),
        (
            lambda s: setattr(s.description, "predictedFeatureName", "nope"),
            "Expected feature 'nope' to the model is not present in the model description.",
            "INTERFACE_FEATURE_NAME_MISMATCH",
        ),
        (
            lambda s: s.description.output[1].type.int64Type.SetInParent(),
            'Unsupported type "MLFeatureTypeType_int64Type" for feature "label". Should be one '
            "of: MLFeatureTypeType_stringType.",
            "UNSUPPORTED_FEATURE_TYPE_FOR_MODEL_TYPE",
        ),
        (
            lambda s: s.description.output[0].type.doubleType.SetInParent(),
            'Unsupported type "MLFeatureTypeType_doubleType" for feature "probs". Should be one '
            "of: MLFeatureTypeType_multiArrayType, MLFeatureTypeType_dictionaryType.",
            "UNSUPPORTED_FEATURE_TYPE_FOR_MODEL_TYPE",
        ),
    ],
)
def test_n2_classifier_interface(mutate, message, result_type):
    spec = builders.classifier_nn()
    mutate(spec)
    expect(spec, "N2", message, result_type, "description")


def test_n3_regressor_interface():
    spec = builders.base_nn()
    regressor = proto.Model()
    regressor.CopyFrom(spec)
    regressor.neuralNetworkRegressor.layers.extend(spec.neuralNetwork.layers)
    expect(regressor, "N3", "Specification is missing regressor predictedFeatureName.", INTERFACE)
    regressor.description.predictedFeatureName = "output"
    assert core_ml_issue(regressor) is None


def test_n4_rank5_mapping_with_new_layers():
    spec = builders.base_nn()
    layer(spec, "softmax").softmaxND.axis = -1  # an iOS 13 layer
    expect(
        spec,
        "N4",
        "Neural Network Multi-Array input shape mapping cannot be 'RANK5_ARRAY_MAPPING' if the "
        "network contains a layer added in version 3 (iOS 13) or later.",
        INTERFACE,
    )
    spec.neuralNetwork.arrayInputShapeMapping = 1  # EXACT_ARRAY_MAPPING
    assert core_ml_issue(spec) is None
    spec = builders.base_nn()
    spec.neuralNetwork.imageInputShapeMapping = 1
    assert core_ml_issue(spec).message.endswith("is not 'RANK5_IMAGE_MAPPING'")


def test_n5_n6_interface():
    spec = builders.base_nn()
    spec.neuralNetwork.ClearField("layers")
    expect(spec, "N5", "Neural networks require at least one layer.", MODEL_PARAMS, "layers")
    spec = builders.base_nn()
    spec.description.input[0].type.Clear()
    spec.description.input[0].type.stringType.SetInParent()
    expect(spec, "N6", "Neural Networks require inputs to be images or MLMultiArray.", INTERFACE)


def _softmax_nd(spec):
    """Under N-d arrays the rank-1 output cannot come from a softmax (rank >= 3, Y3): use
    softmaxND over the last axis instead."""
    softmax = layer(spec, "softmax")
    softmax.softmaxND.axis = -1


def test_n7_input_ranks():
    spec = builders.base_nn()
    spec.description.input[0].type.multiArrayType.shape.append(2)
    message = (
        "Input MLMultiArray to neural networks must have dimension 1 (vector) or 3 (image-like "
        "arrays)."
    )
    expect(spec, "N7", message, INTERFACE, "description.input[0]")
    spec.neuralNetwork.arrayInputShapeMapping = 1  # N-d arrays: any rank >= 1
    _softmax_nd(spec)
    assert core_ml_issue(spec) is None


def test_n8_missing_input_blob():
    spec = builders.base_nn()
    layer(spec, "ip2").input[0] = "nowhere"
    expect(
        spec,
        "N8",
        "Layer 'ip2' consumes an input named 'nowhere' which is not present in this network.",
        MODEL_PARAMS,
        "layers['ip2']",
    )


def test_n9_blob_produced_twice_unless_copy():
    spec = builders.base_nn()
    layer(spec, "ip2").output[0] = "hidden"
    expect(
        spec,
        "N9",
        "Layer 'ip2' produces an output named 'hidden' which is also an output produced by the "
        "layer 'ip1'.",
        MODEL_PARAMS,
    )
    spec = builders.base_nn()
    layer(spec, "ip1").output[0] = "input"
    assert "the layer '__input'" in core_ml_issue(spec).message
    spec = builders.base_nn()
    copy = spec.neuralNetwork.layers.add(name="copy")
    copy.copy.SetInParent()
    copy.input.append("hidden")
    copy.output.append("output")  # a copy may overwrite a blob
    spec.neuralNetwork.arrayInputShapeMapping = 1  # copy is an iOS 13 layer (N4 otherwise)
    _softmax_nd(spec)
    assert core_ml_issue(spec) is None


def test_n10_label_probability_layer():
    spec = builders.classifier_nn()
    spec.neuralNetworkClassifier.labelProbabilityLayerName = "missing"
    expect(
        spec,
        "N10",
        "For this neural network classifier, the probabilities are obtained from the layer "
        "'missing' which was not found in the network.",
        MODEL_PARAMS,
    )


def test_n11_outputs_produced():
    spec = builders.base_nn()
    spec.description.output[0].name = "ghost"
    expect(
        spec,
        "N11",
        "Interface specifies output 'ghost' which is not produced by any layer in the neural "
        "network.",
        INTERFACE,
        "description.output[0]",
    )
    spec = builders.base_nn()
    spec.description.output.add().CopyFrom(spec.description.output[0])
    assert core_ml_issue(spec).where == "description.output[1]"  # a repeated name fails
    spec = builders.classifier_nn()
    extra = spec.description.output.add(name="ghost")
    extra.type.multiArrayType.dataType = proto.ArrayFeatureType.DOUBLE
    expect(
        spec,
        "N11",
        "Output layer 'ghost' is not produced by any layer of the neural network.",
        MODEL_PARAMS,
    )
