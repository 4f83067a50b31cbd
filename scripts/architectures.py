"""Benchmark and demo architectures, written as Core ML specs by coremltools' own builder.

Each function returns a ``Model`` protobuf with random weights (seeded), so benchmarks and
demos run the same network in every tool without downloading anything.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    from coremltools.models import datatypes
    from coremltools.models.neural_network import NeuralNetworkBuilder

    logging.disable(logging.NOTSET)

# SqueezeNet 1.1 fire modules after the stem: (name, squeeze, expand per branch), with a 3x3
# stride-2 max pooling after conv1, fire3 and fire5 (Iandola et al. 2016; the 1.1 variant of
# the reference implementation, which also torchvision's squeezenet1_1 follows).
SQUEEZENET_1_1_FIRES = (
    ("fire2", 16, 64),
    ("fire3", 16, 64),
    ("fire4", 32, 128),
    ("fire5", 32, 128),
    ("fire6", 48, 192),
    ("fire7", 48, 192),
    ("fire8", 64, 256),
    ("fire9", 64, 256),
)
SQUEEZENET_POOL_AFTER = ("conv1", "fire3", "fire5")
SQUEEZENET_INPUT = (3, 227, 227)  # [C, H, W]


def squeezenet_1_1(
    num_classes: int = 1000,
    seed: int = 0,
    input_name: str = "data",
    output_name: str = "probs",
    softmax: bool = True,
):
    """SqueezeNet 1.1 with random He-initialised weights, input ``[3, 227, 227]``.

    conv1 (64 @ 3x3 / 2, ReLU) -> max pool 3x3 / 2 -> fire2, fire3 -> pool -> fire4, fire5 ->
    pool -> fire6 .. fire9 -> conv10 (``num_classes`` @ 1x1, ReLU) -> global average pool ->
    flatten -> softmax (optional) -> ``output_name`` (``[num_classes]``). A fire module is a 1x1
    squeeze convolution + ReLU feeding a 1x1 and a 3x3 ("same") expand convolution + ReLU,
    concatenated along channels. Poolings use Core ML's ``includeLastPixel`` (ceil) rule, so
    227 -> 113 -> 56 -> 28 -> 14 as in the reference network. 387.8 M multiply-adds per image
    with 1000 classes. Dropout before conv10 is the identity at inference and is omitted.
    """
    rng = np.random.default_rng(seed)
    builder = NeuralNetworkBuilder(
        [(input_name, datatypes.Array(*SQUEEZENET_INPUT))],
        [(output_name, datatypes.Array(num_classes))],
    )

    def conv(name, cin, cout, k, stride, inp, out, padding="valid"):
        # He initialisation keeps activations O(1) through the ReLU stack
        w = rng.standard_normal((k, k, cin, cout)) * np.sqrt(2.0 / (k * k * cin))
        b = rng.standard_normal(cout) * 0.01
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
            b,
            True,
            input_name=inp,
            output_name=out,
        )
        builder.add_activation(f"{name}_relu", "RELU", out, f"{out}_relu")
        return f"{out}_relu"

    def pool(name, inp):
        builder.add_pooling(name, 3, 3, 2, 2, "MAX", "INCLUDE_LAST_PIXEL", inp, name)
        return name

    blob = conv("conv1", 3, 64, 3, 2, input_name, "conv1")
    channels = 64
    blob = pool("pool1", blob)
    for index, (name, squeeze, expand) in enumerate(SQUEEZENET_1_1_FIRES):
        s = conv(f"{name}_squeeze1x1", channels, squeeze, 1, 1, blob, f"{name}_squeeze")
        e1 = conv(f"{name}_expand1x1", squeeze, expand, 1, 1, s, f"{name}_e1")
        e3 = conv(f"{name}_expand3x3", squeeze, expand, 3, 1, s, f"{name}_e3", padding="same")
        builder.add_elementwise(f"{name}_concat", [e1, e3], f"{name}_concat", "CONCAT")
        blob, channels = f"{name}_concat", 2 * expand
        if name in SQUEEZENET_POOL_AFTER[1:]:
            blob = pool(f"pool{index + 3}", blob)
    blob = conv("conv10", channels, num_classes, 1, 1, blob, "conv10")
    builder.add_pooling("pool10", 1, 1, 1, 1, "AVERAGE", "VALID", blob, "pool10", is_global=True)
    final = output_name if not softmax else "logits"
    builder.add_flatten("flatten", 0, "pool10", final)
    if softmax:
        builder.add_softmax("softmax", final, output_name)
    return builder.spec


# MobileNetV2 inverted-residual settings (expansion t, output channels c, repeats n, first
# stride s), the first rows of Sandler et al. 2018, Table 2.
MOBILENET_V2_BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2))


def mobilenet_v2_blocks(
    blocks=MOBILENET_V2_BLOCKS,
    *,
    input_chw=(3, 64, 64),
    stem: int = 32,
    last: int = 128,
    num_classes: int = 10,
    seed: int = 0,
    input_name: str = "image",
    output_name: str = "probs",
    softmax: bool = True,
):
    """A MobileNetV2-style stack of inverted residual blocks, with random (seeded) weights.

    stem conv 3x3 / 2 (``stem`` channels) + batchnorm + ReLU6 -> for each ``(t, c, n, s)``: ``n``
    blocks of [1x1 expand to ``t * C_in`` + BN + ReLU6 (skipped when t = 1) -> 3x3 depthwise
    (groups = channels, stride ``s`` on the first block) + BN + ReLU6 -> 1x1 project to ``c`` + BN,
    plus the block input when the stride is 1 and the channels match] -> 1x1 conv to ``last``
    + BN + ReLU6 -> global average pool -> innerProduct ``num_classes`` -> softmax (optional).
    ReLU6 is Core ML's ``clip(0, 6)`` layer, as converters write it; convolutions use "same"
    padding and no bias (the batchnorm carries it).
    """
    rng = np.random.default_rng(seed)
    builder = NeuralNetworkBuilder(
        [(input_name, datatypes.Array(*input_chw))], [(output_name, datatypes.Array(num_classes))]
    )

    def conv_bn(name, cin, cout, k, stride, inp, groups=1, relu6=True):
        fan_in = k * k * cin // groups  # He initialisation over one group's inputs
        w = rng.standard_normal((k, k, cin // groups, cout)) * np.sqrt(2.0 / fan_in)
        builder.add_convolution(
            name,
            cin // groups,
            cout,
            k,
            k,
            stride,
            stride,
            "same",
            groups,
            w,
            None,
            False,
            input_name=inp,
            output_name=f"{name}_conv",
        )
        builder.add_batchnorm(
            f"{name}_bn",
            cout,
            rng.uniform(0.5, 1.5, cout),
            rng.standard_normal(cout) * 0.1,
            rng.standard_normal(cout) * 0.1,
            rng.uniform(0.5, 1.5, cout),
            f"{name}_conv",
            f"{name}_bn",
            epsilon=1e-5,
        )
        if not relu6:
            return f"{name}_bn"
        builder.add_clip(f"{name}_relu6", f"{name}_bn", f"{name}_relu6", 0.0, 6.0)
        return f"{name}_relu6"

    blob = conv_bn("stem", input_chw[0], stem, 3, 2, input_name)
    channels = stem
    for group, (t, c, n, s) in enumerate(blocks):
        for repeat in range(n):
            name, stride, block_input = f"block{group}_{repeat}", s if repeat == 0 else 1, blob
            hidden = channels * t
            if t != 1:
                blob = conv_bn(f"{name}_expand", channels, hidden, 1, 1, blob)
            blob = conv_bn(f"{name}_dw", hidden, hidden, 3, stride, blob, groups=hidden)
            blob = conv_bn(f"{name}_project", hidden, c, 1, 1, blob, relu6=False)
            if stride == 1 and channels == c:
                builder.add_elementwise(f"{name}_add", [block_input, blob], f"{name}_add", "ADD")
                blob = f"{name}_add"
            channels = c
    blob = conv_bn("head", channels, last, 1, 1, blob)
    builder.add_pooling("pool", 1, 1, 1, 1, "AVERAGE", "VALID", blob, "pool", is_global=True)
    final = "logits" if softmax else output_name
    weights = rng.standard_normal((num_classes, last)) / np.sqrt(last)
    builder.add_inner_product(
        "classifier",
        weights,
        rng.standard_normal(num_classes) * 0.1,
        last,
        num_classes,
        True,
        "pool",
        final,
    )
    if softmax:
        builder.add_softmax("softmax", final, output_name)
    return builder.spec
