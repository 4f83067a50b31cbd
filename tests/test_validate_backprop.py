"""Loss layers C1, C3-C7 and Core ML's backpropagation search C17 (docs/mlmodel-format.md §2.3 C,
§2.4, §6.3 "C17 and BFS scope")."""

from __future__ import annotations

from tests import builders
from tests.issue_checks import expect_issue
from updatable import proto
from updatable.spec import find_layer
from updatable.validation import core_ml_issue

UPD_CONFIG = "INVALID_UPDATABLE_MODEL_CONFIGURATION"


def expect(spec, code, message, where=None):
    return expect_issue(spec, code, message, UPD_CONFIG, where)


def blocked(name):
    return (
        f"There is a layer ({name}), which does not support backpropagation, between an "
        "updatable marked layer and the loss function."
    )


def loss(spec):
    return spec.neuralNetwork.updateParams.lossLayers[0]


def add_layer(spec, name, kind, inputs, outputs, updatable=False):
    """Append a layer by protobuf edits; an updatable innerProduct gets its weight flag."""
    layer = spec.neuralNetwork.layers.add(name=name, isUpdatable=updatable)
    layer.input.extend(inputs)
    layer.output.extend(outputs)
    if kind == "abs":
        layer.unary.type = proto.NeuralNetwork_pb2.UnaryFunctionLayerParams.ABS
    elif kind == "innerProduct":
        layer.innerProduct.inputChannels = layer.innerProduct.outputChannels = 3
        layer.innerProduct.weights.floatValue.extend([0.0] * 9)
        layer.innerProduct.weights.isUpdatable = updatable
    elif kind == "convolution":  # two inputs: the weights come from the second one
        layer.convolution.outputChannels = layer.convolution.kernelChannels = 3
        layer.convolution.valid.SetInParent()
    elif kind == "pooling":
        layer.pooling.valid.SetInParent()
    else:
        getattr(layer, kind).SetInParent()
    return layer


def cce_on(spec, blob):
    """Point the CCE loss at ``blob`` and its training target at ``blob + '_true'``."""
    cce = loss(spec).categoricalCrossEntropyLossLayer
    cce.input, cce.target = blob, f"{blob}_true"
    spec.description.trainingInput[-1].name = cce.target


# --- C1, C3-C7 ------------------------------------------------------------------------------


def test_c1_more_than_one_loss():
    spec = builders.updatable_nn()
    spec.neuralNetwork.updateParams.lossLayers.add().CopyFrom(loss(spec))
    spec.neuralNetwork.updateParams.lossLayers[1].name = "lossLayer2"
    expect(
        spec,
        "C1",
        "This model has more than one loss layers specified, which is not supported at the moment.",
        "updateParams.lossLayers",
    )


def test_c3_unknown_loss():
    spec = builders.updatable_nn()
    loss(spec).ClearField("categoricalCrossEntropyLossLayer")
    expect(
        spec,
        "C3",
        "Loss function is not recognized in the loss layer named 'lossLayer', only cross entropy "
        "loss and MSE are supported.",
        "updateParams.lossLayers['lossLayer']",
    )


CCE_NOT_SOFTMAX = (
    "For the categorical cross entropy loss layer named 'lossLayer', input is not generated from "
    "a softmax output."
)


def test_c4_cce_input_not_from_softmax():
    spec = builders.updatable_nn()
    loss(spec).categoricalCrossEntropyLossLayer.input = "output"  # produced by ip2
    expect(spec, "C4", CCE_NOT_SOFTMAX)
    loss(spec).categoricalCrossEntropyLossLayer.input = "input"  # a model input
    expect(spec, "C4", CCE_NOT_SOFTMAX)
    loss(spec).categoricalCrossEntropyLossLayer.input = "C"  # port: input made nowhere
    expect(spec, "C4", CCE_NOT_SOFTMAX)


def test_c4_softmax_nd_does_not_count_nor_a_second_output():
    spec = builders.updatable_nn()
    softmax = find_layer(spec, "softmax")
    softmax.softmaxND.axis = -1
    spec.neuralNetwork.arrayInputShapeMapping = 1  # softmaxND is an iOS 13 layer
    expect(spec, "C4", CCE_NOT_SOFTMAX)
    spec = builders.updatable_nn()
    softmax = find_layer(spec, "softmax")
    softmax.output.insert(0, "first_output")
    # the loss would read its second output, but Core ML refuses a two-output softmax first
    message = "Layer 'softmax' of type 175 has 2 outputs but expects exactly 1."
    expect_issue(spec, "Y2", message, "INVALID_MODEL_PARAMETERS", "layers['softmax']")


def test_c4_fires_before_the_backprop_search():
    """Port of UnsupportedLayersForBP: IP (U) -> ABS -> pooling -> CCE reading the pooling."""
    spec = builders.updatable_nn()
    spec.neuralNetwork.arrayInputShapeMapping = 1
    # N-d arrays: the softmax needs rank >= 3 (Y3), so the output feeding it is [3, 1, 1]
    spec.description.output[0].type.multiArrayType.shape[:] = [3, 1, 1]
    add_layer(spec, "abs", "abs", ["softmax_output"], ["abs_out"])
    add_layer(spec, "pool", "pooling", ["abs_out"], ["pooled"])
    cce_on(spec, "pooled")
    expect(spec, "C4", CCE_NOT_SOFTMAX)


def test_c5_cce_target_made_in_the_graph():
    spec = builders.updatable_nn()
    loss(spec).categoricalCrossEntropyLossLayer.target = "hidden"
    expect(
        spec,
        "C5",
        "For the cross entropy loss layer named 'lossLayer', target is generated within the graph.",
    )


def test_c6_c7_mse():
    spec = builders.updatable_nn("mse")
    loss(spec).meanSquaredErrorLossLayer.input = "input"
    expect(
        spec,
        "C6",
        "For the MSE loss layer named 'lossLayer', input is not generated within the graph.",
    )
    spec = builders.updatable_nn("mse")
    loss(spec).meanSquaredErrorLossLayer.input = "hidden"  # any producing layer will do
    assert core_ml_issue(spec) is None
    loss(spec).meanSquaredErrorLossLayer.target = "hidden_relu"
    expect(
        spec,
        "C7",
        "For the MSE loss layer named 'lossLayer', target is generated within the graph.",
    )


# --- C17: the breadth-first search ----------------------------------------------------------


def test_c17_blocker_between_updatable_layer_and_loss():
    spec = builders.updatable_nn()
    relu = find_layer(spec, "relu1")
    relu.input[0] = "abs_out"
    abs_layer = add_layer(spec, "abs", "abs", ["hidden"], ["abs_out"])
    layers = spec.neuralNetwork.layers
    layers.insert(1, proto.NeuralNetworkLayer())  # keep the layers in topological order
    layers[1].CopyFrom(abs_layer)
    del layers[-1]
    expect(spec, "C17", blocked("abs"), "layers['abs']")


def _parallel_branch_model(conv_inputs, abs_inputs):
    """ip0 (U) `A` -> `A_h0` -> ip1 (U) -> `B`; unary abs layers; a two-input (dynamic weight)
    convolution -> softmax -> CCE."""
    spec = builders.chained_ip_nn(2, True)
    spec.neuralNetwork.arrayInputShapeMapping = 1  # a two-input convolution is iOS 13
    # a convolution reads rank >= 4 (Y3 under N-d arrays): the output `B` is [1, 3, 1, 1]
    spec.description.output[0].type.multiArrayType.shape[:] = [1, 3, 1, 1]
    for name, source in abs_inputs:
        add_layer(spec, name, "abs", [source], [f"{name}_out"])
    add_layer(spec, "conv", "convolution", conv_inputs, ["conv_out"])
    return builders.add_cce_with_softmax_and_sgd(spec, "conv_out")


def test_c17_blocker_flag_is_global_across_parallel_branches():
    """§2.4: the BFS discovers ip1 and abs at the same level, then ip0; ip0 fails, naming abs,
    though no path from ip0 to the loss crosses abs."""
    spec = _parallel_branch_model(["B", "abs_out"], [("abs", "A")])
    expect(spec, "C17", blocked("abs"), "layers['abs']")
    # Without the updatable layer behind the level of abs, the same graph is fine.
    spec.neuralNetwork.layers[0].isUpdatable = False
    spec.neuralNetwork.layers[0].innerProduct.weights.isUpdatable = False
    spec.neuralNetwork.layers[0].innerProduct.bias.isUpdatable = False
    assert core_ml_issue(spec) is None


def test_c17_names_the_most_recent_blocker():
    """abs1 (behind ip0) and abs2 (behind a model input) are found at one level; ip0 then
    fails naming abs2, the blocker seen last, although the real one is abs1."""
    spec = _parallel_branch_model(["abs1_out", "abs2_out"], [("abs1", "A_h0"), ("abs2", "A")])
    expect(spec, "C17", blocked("abs2"))


def test_c17_softmax_exempt_only_before_cross_entropy():
    """Port of InvalidSoftmax: Dense (U) -> SM -> Dense (U) -> SM -> CCE fails on the first
    softmax."""
    spec = builders.updatable_nn()
    add_layer(spec, "dense_after_softmax", "innerProduct", ["softmax_output"], ["d2"], True)
    add_layer(spec, "softmax_2", "softmax", ["d2"], ["softmax_2_out"])
    cce_on(spec, "softmax_2_out")
    expect(spec, "C17", blocked("softmax"), "layers['softmax']")


def test_c17_valid_softmax_scopes():
    """Ports of ValidMultipleSoftmax_1, _2 and MultipleSoftmaxOutputs."""
    # _1: the first dense is not updatable, so the first softmax needs no gradient
    spec = builders.updatable_nn()
    for layer in spec.neuralNetwork.layers:
        if layer.name in ("ip1", "ip2"):
            layer.isUpdatable = False
    add_layer(spec, "dense_after_softmax", "innerProduct", ["softmax_output"], ["d2"], True)
    add_layer(spec, "softmax_2", "softmax", ["d2"], ["softmax_2_out"])
    cce_on(spec, "softmax_2_out")
    assert core_ml_issue(spec) is None
    # _2: CCE on the first softmax; the updatable dense after it is outside the search
    spec = builders.updatable_nn()
    add_layer(spec, "dense_after_softmax", "innerProduct", ["softmax_output"], ["d2"], True)
    add_layer(spec, "softmax_2", "softmax", ["d2"], ["softmax_2_out"])
    assert core_ml_issue(spec) is None
    # MultipleSoftmaxOutputs: a frozen dense also reads the softmax
    spec = builders.updatable_nn()
    add_layer(spec, "dense_after_softmax", "innerProduct", ["softmax_output"], ["d2"])
    assert core_ml_issue(spec) is None


def test_c17_mse_has_no_softmax_exemption():
    spec = builders.updatable_nn("mse")
    add_layer(spec, "softmax", "softmax", ["output"], ["probs"])
    loss(spec).meanSquaredErrorLossLayer.input = "probs"
    expect(spec, "C17", blocked("softmax"))


def test_c17_blocker_upstream_of_every_updatable_layer_is_fine():
    spec = builders.updatable_nn()
    relu = find_layer(spec, "relu1")
    relu.activation.Clear()
    relu.activation.softplus.SetInParent()  # a blocker, but only ip1 is behind it...
    expect(spec, "C17", blocked("relu1"))
    for layer in spec.neuralNetwork.layers:
        if layer.name == "ip1":
            layer.isUpdatable = False  # ...so freezing ip1 makes the search pass
    assert core_ml_issue(spec) is None


def test_1024_chained_updatable_layers_validate():
    spec = builders.add_cce_with_softmax_and_sgd(builders.chained_ip_nn(1024, True), "B")
    assert core_ml_issue(spec) is None
    spec.neuralNetwork.layers[500].innerProduct.ClearField("weights")
    spec.neuralNetwork.layers[500].innerProduct.weights.SetInParent()
    issue = core_ml_issue(spec)
    assert (issue.code, issue.where) == ("A3", "layers['inner_layer_500']")
