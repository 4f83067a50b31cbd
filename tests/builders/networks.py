"""Small neural networks built with coremltools' ``NeuralNetworkBuilder``."""

from __future__ import annotations

import numpy as np

from tests.builders._common import (
    NeuralNetworkBuilder,
    _quiet_quantize,
    _rng,
    _to_grayscale_image,
    datatypes,
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
    """The worked example of docs/mlmodel-format.md §5.6: `image` Array(4) -> dense1 (4->3) -> relu1
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
    """A small version of Apple's updatable MNIST example (docs/mlmodel-format.md §6.5).

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
