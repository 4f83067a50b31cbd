"""Test models built with coremltools' own builders, so an independent tool wrote them.

Shared by the whole test suite; add new builders here rather than in individual test files.
Every function returns a fresh ``Model`` protobuf message.
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
    from coremltools.models.nearest_neighbors import KNearestNeighborsClassifierBuilder

    logging.disable(logging.NOTSET)


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


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


def _to_grayscale_image(spec, name, width, height):
    for feature in spec.description.input:
        if feature.name == name:
            feature.type.imageType.width = width
            feature.type.imageType.height = height
            feature.type.imageType.colorSpace = feature.type.imageType.GRAYSCALE


def empty_knn(dims: int = 4, default_label="x", **kwargs):
    """An empty updatable kNN classifier from coremltools' builder."""
    builder = KNearestNeighborsClassifierBuilder(
        input_name="input",
        output_name="output",
        number_of_dimensions=dims,
        default_class_label=default_label,
        **kwargs,
    )
    return builder.spec
