"""Small neural networks built with coremltools' ``NeuralNetworkBuilder``."""

from __future__ import annotations

import numpy as np

from tests.builders._common import (
    NeuralNetworkBuilder,
    _quiet,
    _quiet_quantize,
    _rng,
    _to_grayscale_image,
    datatypes,
    set_float32,
)


def base_nn(seed: int = 0):
    """`input` Array(3) -> ip1 (3x3, bias) -> relu1 -> ip2 (3x3, bias) -> softmax -> `output`.

    Not updatable. The blob between ip2 and the softmax is `ip2_out`.
    """
    rng = _rng(seed)
    builder = NeuralNetworkBuilder(
        [("input", datatypes.Array(3))], [("output", datatypes.Array(3))]
    )
    builder.add_inner_product(
        "ip1",
        W=rng.standard_normal((3, 3)),
        b=rng.standard_normal(3),
        input_channels=3,
        output_channels=3,
        has_bias=True,
        input_name="input",
        output_name="hidden",
    )
    builder.add_activation("relu1", "RELU", "hidden", "hidden_relu")
    builder.add_inner_product(
        "ip2",
        W=rng.standard_normal((3, 3)),
        b=rng.standard_normal(3),
        input_channels=3,
        output_channels=3,
        has_bias=True,
        input_name="hidden_relu",
        output_name="ip2_out",
    )
    builder.add_softmax("softmax", "ip2_out", "output")
    return builder.spec


def classifier_nn(seed: int = 0, labels=("cat", "dog")):
    """The worked example of coreml-format.md §5.6: `image` Array(4) -> dense1 (4->3) -> relu1
    -> dense2 (3->len(labels)) -> softmax -> `probs`; classifier with predicted feature `label`.
    """
    rng = _rng(seed)
    n = len(labels)
    builder = NeuralNetworkBuilder(
        [("image", datatypes.Array(4))],
        [("probs", datatypes.Array(n))],
        mode="classifier",
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
    builder.add_inner_product(
        "dense2",
        W=rng.standard_normal((n, 3)),
        b=rng.standard_normal(n),
        input_channels=3,
        output_channels=n,
        has_bias=True,
        input_name="h1_relu",
        output_name="logits",
    )
    builder.add_softmax("softmax", "logits", "probs")
    builder.set_class_labels(list(labels), predicted_feature_name="label", prediction_blob="probs")
    return builder.spec


def mnist_convnet(seed: int = 0, image_input: bool = False, classifier: bool = True):
    """A small version of Apple's updatable MNIST example (coreml-format.md §6.5).

    28x28x1 -> conv1 (8@3x3) relu -> conv2 (16@3x3) relu -> maxpool 2x2 -> flatten ->
    dense_1 (2304->32) relu -> dense_2 (32->10) -> softmax `digitProbabilities`. With
    ``classifier`` the labels are '0'..'9' and the predicted feature is `digit`; with
    ``image_input`` the input `image` is a 28x28 grayscale image scaled by 1/255.
    """
    rng = _rng(seed)
    out = [("digitProbabilities", datatypes.Array(10))]
    builder = NeuralNetworkBuilder(
        [("image", datatypes.Array(1, 28, 28))],
        out,
        mode="classifier" if classifier else None,
    )

    def conv(name, cin, cout, inp, outp):
        w = rng.standard_normal((3, 3, cin, cout)) * np.sqrt(2.0 / (9 * cin))
        builder.add_convolution(
            name,
            kernel_channels=cin,
            output_channels=cout,
            height=3,
            width=3,
            stride_height=1,
            stride_width=1,
            border_mode="valid",
            groups=1,
            W=w,
            b=rng.standard_normal(cout) * 0.1,
            has_bias=True,
            input_name=inp,
            output_name=outp,
        )

    conv("conv1", 1, 8, "image", "c1")
    builder.add_activation("relu_c1", "RELU", "c1", "c1r")
    conv("conv2", 8, 16, "c1r", "c2")
    builder.add_activation("relu_c2", "RELU", "c2", "c2r")
    builder.add_pooling("pool", 2, 2, 2, 2, "MAX", "VALID", "c2r", "p")
    builder.add_flatten("flatten", 0, "p", "flat")
    builder.add_inner_product(
        "dense_1",
        W=rng.standard_normal((32, 2304)) * np.sqrt(2 / 2304),
        b=np.zeros(32),
        input_channels=2304,
        output_channels=32,
        has_bias=True,
        input_name="flat",
        output_name="d1",
    )
    builder.add_activation("relu_d1", "RELU", "d1", "d1r")
    builder.add_inner_product(
        "dense_2",
        W=rng.standard_normal((10, 32)) * np.sqrt(1 / 32),
        b=np.zeros(10),
        input_channels=32,
        output_channels=10,
        has_bias=True,
        input_name="d1r",
        output_name="logits",
    )
    builder.add_softmax("softmax", "logits", "digitProbabilities")
    if classifier:
        builder.set_class_labels(
            [str(i) for i in range(10)],
            predicted_feature_name="digit",
            prediction_blob="digitProbabilities",
        )
    if image_input:
        builder.set_pre_processing_parameters(image_input_names=["image"], image_scale=1 / 255.0)
        from coremltools.models.neural_network.utils import make_image_input  # noqa: F401

        spec = builder.spec
        _to_grayscale_image(spec, "image", 28, 28)
        return spec
    return builder.spec


def single_layer_nn(in_chw, add_layer, out_chw=None):
    """A network of one layer from coremltools' builder, for layer-level tests.

    ``add_layer(builder, input_name, output_name)`` calls one ``builder.add_*`` method; the
    input `input` is Array(*in_chw) ([C, H, W] or [C]); returns the layer protobuf and the spec.
    """
    out = [("output", datatypes.Array(*out_chw) if out_chw else None)]
    builder = NeuralNetworkBuilder([("input", datatypes.Array(*in_chw))], out)
    add_layer(builder, "input", "output")
    return builder.spec.neuralNetwork.layers[-1], builder.spec


def fp16_nn(layers=("ip2",), seed: int = 0):
    """`base_nn` with the weights of ``layers`` stored as FP16 (`float16Value`) by coremltools."""
    return _quiet_quantize(base_nn(seed), 16, set(layers))


def quantized_nn(layers=("ip1",), nbits: int = 8, seed: int = 0):
    """`base_nn` with ``layers`` linearly quantized to ``nbits`` by coremltools."""
    return _quiet_quantize(base_nn(seed), nbits, set(layers))


def chain_nn(softmax: bool = True, seed: int = 0):
    """The base model of coremltools' test_model_updatable.py (coreml-format.md §6.1):
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


def fire_net(activation="RELU", params=None, seed: int = 0, pool_pads=(0, 0, 0, 0)):
    """A small SqueezeNet-shaped network: `data` Array(3, 17, 17) -> conv1 (8@3x3 / 2) act ->
    max pool 3x3 / 2 (includeLastPixel) -> fire (squeeze 1x1 4 act; expand 1x1 6 act and 3x3
    same 6 act; concat) -> max pool 2x2 / 2 (valid, ``pool_pads`` = top, bottom, left, right)
    -> `head` 1x1 (5) -> global average pool -> flatten `logits` -> softmax `probs`.

    ``activation`` is a builder non-linearity name (with ``params``) applied after every
    convolution but the head, or ``None`` for none; biases are large enough to matter.
    """
    rng = _rng(seed)
    builder = NeuralNetworkBuilder(
        [("data", datatypes.Array(3, 17, 17))], [("probs", datatypes.Array(5))]
    )

    def conv(name, cin, cout, k, stride, inp, out, padding="valid"):
        w = rng.standard_normal((k, k, cin, cout)) * np.sqrt(2.0 / (k * k * cin))
        builder.add_convolution(
            name,
            cin,
            cout,
            k,
            k,
            stride,
            stride,
            padding,
            1,
            w,
            rng.standard_normal(cout) * 0.5,
            True,
            input_name=inp,
            output_name=out,
        )
        if activation is None:
            return out
        builder.add_activation(f"{name}_act", activation, out, f"{out}_act", params=params)
        return f"{out}_act"

    blob = conv("conv1", 3, 8, 3, 2, "data", "c1")
    builder.add_pooling("pool1", 3, 3, 2, 2, "MAX", "INCLUDE_LAST_PIXEL", blob, "p1")
    squeeze = conv("squeeze", 8, 4, 1, 1, "p1", "s")
    e1 = conv("expand1x1", 4, 6, 1, 1, squeeze, "e1")
    e3 = conv("expand3x3", 4, 6, 3, 1, squeeze, "e3", padding="same")
    builder.add_elementwise("fire_concat", [e1, e3], "fire", "CONCAT")
    top, bottom, left, right = pool_pads
    builder.add_pooling(
        "pool2",
        2,
        2,
        2,
        2,
        "MAX",
        "VALID",
        "fire",
        "p2",
        padding_top=top,
        padding_bottom=bottom,
        padding_left=left,
        padding_right=right,
    )
    w = rng.standard_normal((1, 1, 12, 5)) * 0.5
    builder.add_convolution(
        "head",
        12,
        5,
        1,
        1,
        1,
        1,
        "valid",
        1,
        w,
        rng.standard_normal(5),
        True,
        input_name="p2",
        output_name="h",
    )
    builder.add_pooling("gap", 1, 1, 1, 1, "AVERAGE", "VALID", "h", "g", is_global=True)
    builder.add_flatten("flatten", 0, "g", "logits")
    builder.add_softmax("softmax", "logits", "probs")
    return builder.spec
