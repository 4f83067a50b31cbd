"""Small networks shaped for the validator's structure and backpropagation rules (chains,
convolution heads, regressors, two outputs, blocked paths, logits outputs), built with
coremltools' ``NeuralNetworkBuilder``."""

from __future__ import annotations

from tests.builders._common import (
    NeuralNetworkBuilder,
    _quiet,
    _rng,
    datatypes,
    set_float32,
)


def chain_nn(softmax: bool = True, seed: int = 0):
    """The base model of coremltools' test_model_updatable.py (docs/mlmodel-format.md §6.1):
    `input` Array(3) -> ip1 (3x3, no bias) -> `hidden` -> ip2 (3x3, no bias) -> `output`,
    with ``softmax`` a softmax after ip2 (`ip2_out` -> `output`)."""
    rng = _rng(seed)
    builder = NeuralNetworkBuilder(
        [("input", datatypes.Array(3))], [("output", datatypes.Array(3))]
    )
    builder.add_inner_product(
        "ip1",
        W=rng.random((3, 3)),
        b=None,
        input_channels=3,
        output_channels=3,
        has_bias=False,
        input_name="input",
        output_name="hidden",
    )
    last = "ip2_out" if softmax else "output"
    builder.add_inner_product(
        "ip2",
        W=rng.random((3, 3)),
        b=None,
        input_channels=3,
        output_channels=3,
        has_bias=False,
        input_name="hidden",
        output_name=last,
    )
    if softmax:
        builder.add_softmax("softmax", "ip2_out", "output")
    return builder.spec


def conv_head_classifier(seed: int = 0, labels=("a", "b", "c")):
    """A classifier whose head is a 1x1 convolution: `features` Array(8, 1, 1) -> conv1 (1x1,
    8->5) relu -> head (1x1 conv, 5->len(labels)) -> flatten -> softmax -> `probs`."""
    rng = _rng(seed)
    n = len(labels)
    builder = NeuralNetworkBuilder(
        [("features", datatypes.Array(8, 1, 1))],
        [("probs", datatypes.Array(n))],
        mode="classifier",
    )
    for name, cin, cout, inp, outp in (
        ("conv1", 8, 5, "features", "c1"),
        ("head", 5, n, "c1r", "logits"),
    ):
        builder.add_convolution(
            name,
            kernel_channels=cin,
            output_channels=cout,
            height=1,
            width=1,
            stride_height=1,
            stride_width=1,
            border_mode="valid",
            groups=1,
            W=rng.standard_normal((1, 1, cin, cout)),
            b=rng.standard_normal(cout),
            has_bias=True,
            input_name=inp,
            output_name=outp,
        )
        if name == "conv1":
            builder.add_activation("relu1", "RELU", "c1", "c1r")
    builder.add_flatten("flatten", 0, "logits", "flat")
    builder.add_softmax("softmax", "flat", "probs")
    builder.set_class_labels(list(labels), predicted_feature_name="label", prediction_blob="probs")
    return builder.spec


def regressor_nn(seed: int = 0):
    """An NN regressor: `x` Array(4) -> fc1 (4->8) relu -> fc2 (8->2) -> `y` Array(2)."""
    rng = _rng(seed)
    builder = NeuralNetworkBuilder(
        [("x", datatypes.Array(4))], [("y", datatypes.Array(2))], mode="regressor"
    )
    builder.add_inner_product(
        "fc1",
        W=rng.standard_normal((8, 4)),
        b=rng.standard_normal(8),
        input_channels=4,
        output_channels=8,
        has_bias=True,
        input_name="x",
        output_name="h",
    )
    builder.add_activation("relu", "RELU", "h", "hr")
    builder.add_inner_product(
        "fc2",
        W=rng.standard_normal((2, 8)),
        b=rng.standard_normal(2),
        input_channels=8,
        output_channels=2,
        has_bias=True,
        input_name="hr",
        output_name="y",
    )
    builder.spec.description.predictedFeatureName = "y"  # the builder leaves it unset
    return builder.spec


def two_output_nn(seed: int = 0):
    """`input` Array(3) -> ip1 -> `output` and ip2 -> `output_true`: a model output named like
    the MSE target of `output` (coremltools' MSE setter half-writes on it, §5.5)."""
    rng = _rng(seed)
    builder = NeuralNetworkBuilder(
        [("input", datatypes.Array(3))],
        [("output", datatypes.Array(3)), ("output_true", datatypes.Array(3))],
    )
    for name, out in (("ip1", "output"), ("ip2", "output_true")):
        builder.add_inner_product(
            name,
            W=rng.standard_normal((3, 3)),
            b=None,
            input_channels=3,
            output_channels=3,
            has_bias=False,
            input_name="input",
            output_name=out,
        )
    return builder.spec


def blocked_classifier(seed: int = 0):
    """`classifier_nn` with a unary ABS layer between relu1 and dense2: Core ML cannot
    backpropagate through it, so dense1 cannot be trained (rule C17)."""
    rng = _rng(seed)
    builder = NeuralNetworkBuilder(
        [("image", datatypes.Array(4))], [("probs", datatypes.Array(2))], mode="classifier"
    )
    builder.add_inner_product(
        "dense1",
        W=rng.standard_normal((3, 4)),
        b=rng.standard_normal(3),
        input_channels=4,
        output_channels=3,
        has_bias=True,
        input_name="image",
        output_name="h1",
    )
    builder.add_activation("relu1", "RELU", "h1", "h1_relu")
    builder.add_unary("abs", "h1_relu", "h1_abs", mode="abs")
    builder.add_inner_product(
        "dense2",
        W=rng.standard_normal((2, 3)),
        b=rng.standard_normal(2),
        input_channels=3,
        output_channels=2,
        has_bias=True,
        input_name="h1_abs",
        output_name="logits",
    )
    builder.add_softmax("softmax", "logits", "probs")
    builder.set_class_labels(
        ["cat", "dog"], predicted_feature_name="label", prediction_blob="probs"
    )
    return builder.spec


def classifier_with_logits_output(seed: int = 0, labels=("cat", "dog")):
    """`classifier_nn` that also outputs its `logits` blob as MultiArray [len(labels)]."""
    rng = _rng(seed)
    n = len(labels)
    builder = NeuralNetworkBuilder(
        [("image", datatypes.Array(4))],
        [("probs", datatypes.Array(n)), ("logits", datatypes.Array(n))],
        mode="classifier",
    )
    builder.add_inner_product(
        "dense",
        W=rng.standard_normal((n, 4)),
        b=rng.standard_normal(n),
        input_channels=4,
        output_channels=n,
        has_bias=True,
        input_name="image",
        output_name="logits",
    )
    builder.add_softmax("softmax", "logits", "probs")
    builder.set_class_labels(list(labels), predicted_feature_name="label", prediction_blob="probs")
    return builder.spec


def chained_ip_nn(
    n_layers: int = 1,
    updatable: bool = False,
    input_name: str = "A",
    output_name: str = "B",
    width: int = 3,
    seed: int = 0,
):
    """Port of coremltools' C++ test helper ``buildBasicNeuralNetworkModel``: `input_name`
    FLOAT32 [width] -> ``n_layers`` chained innerProducts (width x width, bias) ->
    `output_name`; with ``updatable`` every layer is updatable (through coremltools'
    ``make_updatable``) and the model inputs are copied into ``trainingInput``. Layer i is
    `inner_layer_i`."""
    rng = _rng(seed)
    builder = NeuralNetworkBuilder(
        [(input_name, datatypes.Array(width))], [(output_name, datatypes.Array(width))]
    )
    blob = input_name
    for i in range(n_layers):
        out = output_name if i == n_layers - 1 else f"{input_name}_h{i}"
        builder.add_inner_product(
            f"inner_layer_{i}",
            W=rng.standard_normal((width, width)),
            b=rng.standard_normal(width),
            input_channels=width,
            output_channels=width,
            has_bias=True,
            input_name=blob,
            output_name=out,
        )
        blob = out
    spec = builder.spec
    set_float32(spec.description.input)
    set_float32(spec.description.output)
    if updatable:
        with _quiet():
            builder.make_updatable([f"inner_layer_{i}" for i in range(n_layers)])
        spec.description.trainingInput.extend(spec.description.input)
    return spec
