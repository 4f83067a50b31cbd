"""Benchmark and demo architectures, written as Core ML specs by coremltools' own builder.

Each function returns a ``Model`` protobuf with random weights (seeded), so benchmarks and
demos run the same network in every tool without downloading anything.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

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
    net = _Net(
        NeuralNetworkBuilder(
            [(input_name, datatypes.Array(*SQUEEZENET_INPUT))],
            [(output_name, datatypes.Array(num_classes))],
        ),
        np.random.default_rng(seed),
    )
    builder = net.builder

    def pool(name, inp):
        builder.add_pooling(name, 3, 3, 2, 2, "MAX", "INCLUDE_LAST_PIXEL", inp, name)
        return name

    blob = net.conv_relu(Conv("conv1", 3, 64, 3, 2), input_name, "conv1")
    channels = 64
    blob = pool("pool1", blob)
    for index, (name, squeeze, expand) in enumerate(SQUEEZENET_1_1_FIRES):
        s = net.conv_relu(Conv(f"{name}_squeeze1x1", channels, squeeze, 1), blob, f"{name}_squeeze")
        e1 = net.conv_relu(Conv(f"{name}_expand1x1", squeeze, expand, 1), s, f"{name}_e1")
        e3 = net.conv_relu(
            Conv(f"{name}_expand3x3", squeeze, expand, 3), s, f"{name}_e3", padding="same"
        )
        builder.add_elementwise(f"{name}_concat", [e1, e3], f"{name}_concat", "CONCAT")
        blob, channels = f"{name}_concat", 2 * expand
        if name in SQUEEZENET_POOL_AFTER[1:]:
            blob = pool(f"pool{index + 3}", blob)
    blob = net.conv_relu(Conv("conv10", channels, num_classes, 1), blob, "conv10")
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
    net = _Net(
        NeuralNetworkBuilder(
            [(input_name, datatypes.Array(*input_chw))],
            [(output_name, datatypes.Array(num_classes))],
        ),
        np.random.default_rng(seed),
    )
    builder, rng = net.builder, net.rng
    blob = net.conv_bn(Conv("stem", input_chw[0], stem, 3, 2), input_name)
    channels = stem
    for group, (t, c, n, s) in enumerate(blocks):
        for repeat in range(n):
            stride = s if repeat == 0 else 1
            blob = _inverted_residual(net, f"block{group}_{repeat}", (channels, t, c, stride), blob)
            channels = c
    blob = net.conv_bn(Conv("head", channels, last, 1), blob)
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


def _inverted_residual(net: _Net, name: str, shape: tuple, blob: str) -> str:
    """One MobileNetV2 block; ``shape`` is ``(input channels, expansion, output channels,
    stride)``."""
    channels, t, c, stride = shape
    block_input, hidden = blob, channels * t
    if t != 1:
        blob = net.conv_bn(Conv(f"{name}_expand", channels, hidden, 1), blob)
    blob = net.conv_bn(Conv(f"{name}_dw", hidden, hidden, 3, stride, groups=hidden), blob)
    blob = net.conv_bn(Conv(f"{name}_project", hidden, c, 1), blob, relu6=False)
    if stride == 1 and channels == c:
        net.builder.add_elementwise(f"{name}_add", [block_input, blob], f"{name}_add", "ADD")
        blob = f"{name}_add"
    return blob


@dataclass(frozen=True)
class Conv:
    """A convolution's shape: ``cout`` filters of ``k x k`` over ``cin`` channels."""

    name: str
    cin: int
    cout: int
    k: int
    stride: int = 1
    groups: int = 1


@dataclass
class _Net:
    """A builder and the seeded generator its random weights come from."""

    builder: NeuralNetworkBuilder
    rng: np.random.Generator

    def conv_relu(self, conv: Conv, inp: str, out: str, padding: str = "valid") -> str:
        """Convolution with bias, then ReLU; He initialisation keeps activations O(1)."""
        k, cin, cout = conv.k, conv.cin, conv.cout
        w = self.rng.standard_normal((k, k, cin, cout)) * np.sqrt(2.0 / (k * k * cin))
        b = self.rng.standard_normal(cout) * 0.01
        self.builder.add_convolution(
            conv.name,
            cin,
            cout,
            k,
            k,
            conv.stride,
            conv.stride,
            padding,
            1,
            w,
            b,
            True,
            input_name=inp,
            output_name=out,
        )
        self.builder.add_activation(f"{conv.name}_relu", "RELU", out, f"{out}_relu")
        return f"{out}_relu"

    def conv_bn(self, conv: Conv, inp: str, relu6: bool = True) -> str:
        """Convolution ("same", no bias) + batchnorm, then ReLU6 (Core ML's clip(0, 6))."""
        name, k, groups, cout = conv.name, conv.k, conv.groups, conv.cout
        fan_in = k * k * conv.cin // groups  # He initialisation over one group's inputs
        w = self.rng.standard_normal((k, k, conv.cin // groups, cout)) * np.sqrt(2.0 / fan_in)
        self.builder.add_convolution(
            name,
            conv.cin // groups,
            cout,
            k,
            k,
            conv.stride,
            conv.stride,
            "same",
            groups,
            w,
            None,
            False,
            input_name=inp,
            output_name=f"{name}_conv",
        )
        rng = self.rng
        self.builder.add_batchnorm(
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
        self.builder.add_clip(f"{name}_relu6", f"{name}_bn", f"{name}_relu6", 0.0, 6.0)
        return f"{name}_relu6"
