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
    from coremltools.models.nearest_neighbors import KNearestNeighborsClassifierBuilder
    from coremltools.models.neural_network import NeuralNetworkBuilder

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


def single_layer_nn(in_chw, add_layer, out_chw=None):
    """A network of one layer from coremltools' builder, for layer-level tests.

    ``add_layer(builder, input_name, output_name)`` calls one ``builder.add_*`` method; the
    input `input` is Array(*in_chw) ([C, H, W] or [C]); returns the layer protobuf and the spec.
    """
    out = [("output", datatypes.Array(*out_chw) if out_chw else None)]
    builder = NeuralNetworkBuilder([("input", datatypes.Array(*in_chw))], out)
    add_layer(builder, "input", "output")
    return builder.spec.neuralNetwork.layers[-1], builder.spec


def _quiet_quantize(spec, nbits: int, layers):
    """Quantize (nbits < 16) or halve (nbits = 16) the weights of ``layers`` with coremltools."""
    import contextlib
    import io

    from coremltools import models
    from coremltools.models.neural_network import quantization_utils

    class OnlyThese(quantization_utils.QuantizedLayerSelector):
        def do_quantize(self, layer, **kwargs):
            return super().do_quantize(layer) and layer.name in layers

    with contextlib.redirect_stdout(io.StringIO()):  # coremltools prints every layer
        quantization_utils._quantize_spec_weights(
            spec, nbits, models._QUANTIZATION_MODE_LINEAR_QUANTIZATION, selector=OnlyThese()
        )
    return spec


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


def drawing_embedding(seed: int = 0, dims: int = 128):
    """Apple's TinyDrawingEmbedding architecture (coreml-format.md §6.5): `drawing` 28x28
    grayscale image -> conv 16@3x3 same relu -> maxpool 2 -> conv 32 -> maxpool -> conv 64 ->
    maxpool -> flatten -> dense 576->``dims`` relu -> `embedding` MultiArray FLOAT32 [dims].
    Not updatable; specification version as coremltools' builder leaves it."""
    from coremltools.proto import FeatureTypes_pb2

    rng = _rng(seed)
    builder = NeuralNetworkBuilder(
        [("drawing", datatypes.Array(1, 28, 28))], [("embedding", datatypes.Array(dims))]
    )
    blob = "drawing"
    for i, (cin, cout) in enumerate(((1, 16), (16, 32), (32, 64))):
        builder.add_convolution(
            f"conv{i}",
            kernel_channels=cin,
            output_channels=cout,
            height=3,
            width=3,
            stride_height=1,
            stride_width=1,
            border_mode="same",
            groups=1,
            W=rng.standard_normal((3, 3, cin, cout)) * np.sqrt(2.0 / (9 * cin)),
            b=np.zeros(cout),
            has_bias=True,
            input_name=blob,
            output_name=f"c{i}",
        )
        builder.add_activation(f"relu{i}", "RELU", f"c{i}", f"r{i}")
        builder.add_pooling(f"pool{i}", 2, 2, 2, 2, "MAX", "VALID", f"r{i}", f"p{i}")
        blob = f"p{i}"
    builder.add_flatten("flatten", 0, blob, "flat")
    builder.add_inner_product(
        "dense",
        W=rng.standard_normal((dims, 576)) * np.sqrt(2 / 576),
        b=np.zeros(dims),
        input_channels=576,
        output_channels=dims,
        has_bias=True,
        input_name="flat",
        output_name="dense_out",
    )
    builder.add_activation("dense_relu", "RELU", "dense_out", "embedding")
    spec = builder.spec
    spec.description.output[
        0
    ].type.multiArrayType.dataType = FeatureTypes_pb2.ArrayFeatureType.FLOAT32
    _to_grayscale_image(spec, "drawing", 28, 28)
    return spec


def nn_head_pipeline(seed: int = 0):
    """coremltools' `Pipeline` of a frozen feature NN (`input` Array(4) -> 3 features) and a
    classifier head (`features` -> `probs`/`label`), neither updatable."""
    from coremltools.models.pipeline import PipelineClassifier

    rng = _rng(seed)
    extractor = NeuralNetworkBuilder(
        [("input", datatypes.Array(4))], [("features", datatypes.Array(3))]
    )
    extractor.add_inner_product(
        "extract",
        W=rng.standard_normal((3, 4)),
        b=rng.standard_normal(3),
        input_channels=4,
        output_channels=3,
        has_bias=True,
        input_name="input",
        output_name="features",
    )
    head = NeuralNetworkBuilder(
        [("features", datatypes.Array(3))], [("probs", datatypes.Array(2))], mode="classifier"
    )
    head.add_inner_product(
        "dense",
        W=rng.standard_normal((2, 3)),
        b=rng.standard_normal(2),
        input_channels=3,
        output_channels=2,
        has_bias=True,
        input_name="features",
        output_name="logits",
    )
    head.add_softmax("softmax", "logits", "probs")
    head.set_class_labels(["cat", "dog"], predicted_feature_name="label", prediction_blob="probs")
    pipeline = PipelineClassifier(
        [("input", datatypes.Array(4))], ["cat", "dog"], output_features=["label", "probs"]
    )
    pipeline.add_model(extractor.spec)
    pipeline.add_model(head.spec)
    return pipeline.spec


# --- updatable models for the validator tests (coreml-format.md §5.6, §6) -------------------

import contextlib  # noqa: E402
import io  # noqa: E402

from coremltools.models.neural_network import AdamParams, SgdParams  # noqa: E402

from updatable import proto  # noqa: E402


def _quiet():
    """coremltools' loss setters print to stdout; keep test output clean."""
    return contextlib.redirect_stdout(io.StringIO())


def updatable_nn(loss: str = "cce", optimizer: str = "sgd", seed: int = 0):
    """The base network of coreml-format.md §6.4, made updatable by coremltools' builder.

    `input` Array(3) -> ip1 (U) `hidden` -> relu1 `hidden_relu` -> ip2 (U) `output`; with
    ``loss="cce"`` a softmax `softmax` makes `softmax_output` and the CCE loss `lossLayer` reads
    it (target `softmax_output_true`); with ``loss="mse"`` the MSE loss reads `output`
    (target `output_true`). SGD lr 0.01 batch 10, or Adam with its defaults; epochs 10.
    """
    rng = _rng(seed)
    builder = NeuralNetworkBuilder(
        [("input", datatypes.Array(3))], [("output", datatypes.Array(3))]
    )
    for name, inp, outp in (("ip1", "input", "hidden"), ("ip2", "hidden_relu", "output")):
        builder.add_inner_product(
            name,
            W=rng.standard_normal((3, 3)),
            b=rng.standard_normal(3),
            input_channels=3,
            output_channels=3,
            has_bias=True,
            input_name=inp,
            output_name=outp,
        )
        if name == "ip1":
            builder.add_activation("relu1", "RELU", "hidden", "hidden_relu")
    if loss == "cce":
        builder.add_softmax("softmax", "output", "softmax_output")
    with _quiet():
        builder.make_updatable(["ip1", "ip2"])
        if loss == "cce":
            builder.set_categorical_cross_entropy_loss("lossLayer", input="softmax_output")
        else:
            builder.set_mean_squared_error_loss(
                "lossLayer", input_feature=("output", datatypes.Array(3))
            )
        if optimizer == "sgd":
            builder.set_sgd_optimizer(SgdParams(lr=0.01, batch=10))
        else:
            builder.set_adam_optimizer(AdamParams())
        builder.set_epochs(10)
    return builder.spec


def updatable_classifier(seed: int = 0):
    """The worked example of coreml-format.md §5.6: `classifier_nn` with dense1 and dense2
    updatable, CCE `lossLayer` on `probs`, SGD lr 0.01 batch 8 from {4, 8, 16}, epochs 10
    from {5, 10, 20}, shuffle with seed 42."""
    builder = NeuralNetworkBuilder(spec=classifier_nn(seed))
    with _quiet():
        builder.make_updatable(["dense1", "dense2"])
        builder.set_categorical_cross_entropy_loss("lossLayer", input="probs")
        sgd = SgdParams(lr=0.01, batch=8)
        sgd.set_batch(8, [4, 8, 16])
        builder.set_sgd_optimizer(sgd)
        builder.set_epochs(10, [5, 10, 20])
        builder.set_shuffle(seed=42)
    return builder.spec


def updatable_mnist_example(seed: int = 0):
    """Apple's updatable MNIST classifier (coreml-format.md §6.5), small: `mnist_convnet` with a
    28x28 grayscale image input, dense_1 and dense_2 updatable, CCE on `digitProbabilities`
    (training label `digit`), SGD lr 0.01 batch 32, 10 epochs. The convolutions stay frozen."""
    builder = NeuralNetworkBuilder(spec=mnist_convnet(seed, image_input=True))
    with _quiet():
        builder.make_updatable(["dense_1", "dense_2"])
        builder.set_categorical_cross_entropy_loss("lossLayer", input="digitProbabilities")
        builder.set_sgd_optimizer(SgdParams(lr=0.01, batch=32))
        builder.set_epochs(10)
    return builder.spec


def set_float32(features):
    """Make every multiArray feature FLOAT32 (coremltools' NN builder writes DOUBLE)."""
    for feature in features:
        if feature.type.HasField("multiArrayType"):
            feature.type.multiArrayType.dataType = proto.ArrayFeatureType.FLOAT32


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


def add_cce_with_softmax_and_sgd(spec, blob: str):
    """Port of ``addCategoricalCrossEntropyLossWithSoftmaxAndSGDOptimizer``: softmax on
    ``blob`` -> `softmax_out`, CCE `cross_entropy_loss_layer` with an INT32 [1] target
    `softmax_out_true`, SGD (lr 0.7 in [0, 1], batch 10 in [5, 100]), epochs 100 in [1, 100].
    Parameters are written as protobuf edits, like the C++ helpers."""
    builder = NeuralNetworkBuilder(spec=spec)
    builder.add_softmax("softmax", blob, "softmax_out")
    with _quiet():
        builder.set_categorical_cross_entropy_loss("cross_entropy_loss_layer", input="softmax_out")
    # the loss setter appends the model inputs again; keep one copy of each
    seen, unique = set(), []
    for entry in spec.description.trainingInput:
        if entry.name not in seen:
            seen.add(entry.name)
            unique.append(proto.FeatureDescription.FromString(entry.SerializeToString()))
    del spec.description.trainingInput[:]
    spec.description.trainingInput.extend(unique)
    sgd = spec.neuralNetwork.updateParams.optimizer.sgdOptimizer
    sgd.learningRate.defaultValue = 0.7
    sgd.learningRate.range.minValue, sgd.learningRate.range.maxValue = 0.0, 1.0
    sgd.miniBatchSize.defaultValue = 10
    sgd.miniBatchSize.range.minValue, sgd.miniBatchSize.range.maxValue = 5, 100
    epochs = spec.neuralNetwork.updateParams.epochs
    epochs.defaultValue = 100
    epochs.range.minValue, epochs.range.maxValue = 1, 100
    return spec


def named_knn(
    input_name: str = "input",
    output_name: str = "output",
    dims: int = 4,
    default_label="x",
    updatable: bool = True,
    **kwargs,
):
    """A kNN classifier from coremltools' builder, with any names (`empty_knn` fixes them)."""
    builder = KNearestNeighborsClassifierBuilder(
        input_name=input_name,
        output_name=output_name,
        number_of_dimensions=dims,
        default_class_label=default_label,
        **kwargs,
    )
    builder.is_updatable = updatable
    return builder.spec


def tiny_drawing_embedding(seed: int = 0):
    """Model 0 of Apple's tiny-drawing pipeline (coreml-format.md §6.5): `drawing` 28x28
    grayscale image -> conv 16@3x3 same + ReLU -> maxpool 2 -> conv 32 -> maxpool -> conv 64 ->
    maxpool -> flatten -> dense 576->128 + ReLU -> `embedding` FLOAT32 [128]. Version 1, not
    updatable."""
    rng = _rng(seed)
    builder = NeuralNetworkBuilder(
        [("drawing", datatypes.Array(1, 28, 28))], [("embedding", datatypes.Array(128))]
    )
    blob, channels = "drawing", 1
    for i, out_channels in enumerate((16, 32, 64)):
        builder.add_convolution(
            f"conv{i}",
            kernel_channels=channels,
            output_channels=out_channels,
            height=3,
            width=3,
            stride_height=1,
            stride_width=1,
            border_mode="same",
            groups=1,
            W=rng.standard_normal((3, 3, channels, out_channels)) * 0.1,
            b=np.zeros(out_channels),
            has_bias=True,
            input_name=blob,
            output_name=f"c{i}",
        )
        builder.add_activation(f"relu{i}", "RELU", f"c{i}", f"r{i}")
        builder.add_pooling(f"pool{i}", 2, 2, 2, 2, "MAX", "VALID", f"r{i}", f"p{i}")
        blob, channels = f"p{i}", out_channels
    builder.add_flatten("flatten", 0, blob, "flat")
    builder.add_inner_product(
        "dense",
        W=rng.standard_normal((128, 576)) * 0.05,
        b=np.zeros(128),
        input_channels=576,
        output_channels=128,
        has_bias=True,
        input_name="flat",
        output_name="dense_out",
    )
    builder.add_activation("dense_relu", "RELU", "dense_out", "embedding")
    spec = builder.spec
    _to_grayscale_image(spec, "drawing", 28, 28)
    set_float32(spec.description.output)
    return spec


def tiny_drawing_pipeline(linked: bool = False, seed: int = 0):
    """Apple's updatable tiny-drawing classifier: a `pipelineClassifier` (version 4,
    updatable) of the embedding network (or, with ``linked``, a version-4 LinkedModel to
    `TinyDrawingEmbedding.mlmodelc` on search path `.:$BUNDLE_MAIN`) and an empty updatable kNN
    on `embedding` (String labels, default `unknown`, inverse distance, linear index; k = 5).
    Training inputs: `drawing` and `label`. Assembled by protobuf edits, as in the example."""
    embedding = tiny_drawing_embedding(seed)
    knn = named_knn(
        "embedding",
        "label",
        128,
        "unknown",
        weighting_scheme="inverse_distance",
        index_type="linear",
    )
    if linked:
        link = proto.Model()
        link.specificationVersion = 4
        link.description.CopyFrom(embedding.description)
        link_file = link.linkedModel.linkedModelFile
        link_file.linkedModelFileName.defaultValue = "TinyDrawingEmbedding.mlmodelc"
        link_file.linkedModelSearchPath.defaultValue = ".:$BUNDLE_MAIN"
        embedding = link
    spec = proto.Model()
    spec.specificationVersion = 4
    spec.isUpdatable = True
    spec.description.input.extend(embedding.description.input)
    spec.description.output.extend(knn.description.output)
    spec.description.predictedFeatureName = knn.description.predictedFeatureName
    spec.description.predictedProbabilitiesName = knn.description.predictedProbabilitiesName
    spec.description.trainingInput.extend(embedding.description.input)
    spec.description.trainingInput[0].shortDescription = "Example sketch"
    spec.description.trainingInput.extend([knn.description.trainingInput[1]])
    spec.pipelineClassifier.pipeline.models.extend([embedding, knn])
    return spec


def pipeline_spec(models, kind: str = "pipeline", updatable: bool = False, version: int = 4):
    """A pipeline of ``models`` by protobuf edits: inputs are the first model's inputs,
    outputs the last model's outputs (and its predicted feature names)."""
    spec = proto.Model()
    spec.specificationVersion = version
    spec.isUpdatable = updatable
    spec.description.input.extend(models[0].description.input)
    spec.description.output.extend(models[-1].description.output)
    if kind == "pipelineClassifier":
        spec.description.predictedFeatureName = models[-1].description.predictedFeatureName
        spec.description.predictedProbabilitiesName = models[
            -1
        ].description.predictedProbabilitiesName
    pipeline = spec.pipeline if kind == "pipeline" else getattr(spec, kind).pipeline
    pipeline.models.extend(models)
    return spec


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


def conv_variants_nn(seed: int = 0):
    """Convolutions for fan-in checks: `input` Array(4, 6, 6) -> grouped (2 groups, 4->6,
    3x2 kernel) -> `g`; dynamic-weight conv `dyn` reading (`g`, `kernel`) -> `output`."""
    rng = _rng(seed)
    builder = NeuralNetworkBuilder(
        [("input", datatypes.Array(4, 6, 6)), ("kernel", datatypes.Array(6, 6, 1, 1))],
        [("output", None)],
    )
    builder.add_convolution(
        "grouped",
        kernel_channels=2,
        output_channels=6,
        height=3,
        width=2,
        stride_height=1,
        stride_width=1,
        border_mode="valid",
        groups=2,
        W=rng.standard_normal((3, 2, 2, 6)),
        b=rng.standard_normal(6),
        has_bias=True,
        input_name="input",
        output_name="g",
    )
    builder.add_convolution(
        "dyn",
        kernel_channels=6,
        output_channels=6,
        height=1,
        width=1,
        stride_height=1,
        stride_width=1,
        border_mode="valid",
        groups=1,
        W=None,
        b=None,
        has_bias=False,
        input_name=["g", "kernel"],
        output_name="output",
    )
    return builder.spec


def make_trainable(
    spec,
    layers,
    *,
    loss_input=None,
    mse_output=None,
    optimizer="sgd",
    lr=0.01,
    batch=8,
    epochs=3,
    momentum=0.0,
    betas=(0.9, 0.999),
    eps=1e-8,
):
    """Make ``spec`` updatable with coremltools' own builder methods (``make_updatable``, the
    loss and optimizer setters, ``set_epochs``): CCE on the softmax output ``loss_input``, or
    MSE on ``mse_output = (blob, shape)``; SGD or Adam with the given defaults."""
    import contextlib
    import io

    from coremltools.models.neural_network import AdamParams, SgdParams

    builder = NeuralNetworkBuilder(spec=spec)
    builder.make_updatable(list(layers))
    with contextlib.redirect_stdout(io.StringIO()):  # the loss setters print
        if mse_output is not None:
            blob, shape = mse_output
            builder.set_mean_squared_error_loss(
                "loss", input_feature=(blob, datatypes.Array(*shape))
            )
        else:
            builder.set_categorical_cross_entropy_loss("loss", input=loss_input)
    if optimizer == "adam":
        builder.set_adam_optimizer(
            AdamParams(lr=lr, batch=batch, beta1=betas[0], beta2=betas[1], eps=eps)
        )
    else:
        builder.set_sgd_optimizer(SgdParams(lr=lr, batch=batch, momentum=momentum))
    builder.set_epochs(epochs)
    return builder.spec


def updatable_mnist(optimizer="sgd", layers=("dense_1", "dense_2"), image_input=False, **kwargs):
    """`mnist_convnet` with ``layers`` updatable, CCE on `digitProbabilities`, SGD or Adam."""
    spec = mnist_convnet(image_input=image_input)
    return make_trainable(
        spec, layers, loss_input="digitProbabilities", optimizer=optimizer, **kwargs
    )


def knn_classifier(
    points=None,
    labels=None,
    *,
    dims: int | None = None,
    default_label="none",
    k: int = 5,
    k_range=None,
    k_set=None,
    weighting: str = "uniform",
    index: str = "linear",
    leaf_size: int = 30,
    debug_outputs: bool = False,
):
    """An updatable kNN classifier from coremltools' builder, holding ``points`` / ``labels``.

    ``index`` is 'linear' or 'kd_tree', ``weighting`` 'uniform' or 'inverse_distance'; the
    label type follows ``default_label`` (str -> String, int -> Int64). ``k_range`` (a tuple)
    or ``k_set`` (a set) bound ``numberOfNeighbors``; otherwise the builder's [1, 1000] stays.
    With ``debug_outputs`` the model also declares Core ML's three ``_debugNearest*`` outputs.
    """
    dims = dims if dims is not None else np.asarray(points).shape[1]
    builder = KNearestNeighborsClassifierBuilder(
        input_name="input",
        output_name="output",
        number_of_dimensions=dims,
        default_class_label=default_label,
        number_of_neighbors=k,
        weighting_scheme=weighting,
        index_type=index,
        leaf_size=leaf_size,
    )
    if k_range is not None or k_set is not None:
        builder.set_number_of_neighbors_with_bounds(k, allowed_range=k_range, allowed_set=k_set)
    if points is not None and len(points):
        cast = str if isinstance(default_label, str) else int
        builder.add_samples(
            np.asarray(points, dtype=np.float32).tolist(), [cast(label) for label in labels]
        )
    spec = builder.spec
    if debug_outputs:
        for name, array_type in (
            ("_debugNearestLabels", None),
            ("_debugNearestDistances", "FLOAT32"),
            ("_debugNearestFeatureIndices", "INT32"),
        ):
            feature = spec.description.output.add()
            feature.name = name
            if array_type is None:
                feature.type.multiArrayType.dataType = feature.type.multiArrayType.INT32
            else:
                feature.type.multiArrayType.dataType = getattr(
                    feature.type.multiArrayType, array_type
                )
    return spec


def linked_model(file_name: str, search_path: str = ""):
    """A ``LinkedModel`` spec pointing at ``file_name`` along ``search_path``.

    coremltools has no builder for linked models; its ``updatable_linked_model`` notebook sets
    the two ``StringParameter`` defaults on the proto by hand, as done here.
    """
    from coremltools.proto import Model_pb2

    spec = Model_pb2.Model()
    spec.specificationVersion = 4
    link = spec.linkedModel.linkedModelFile
    link.linkedModelFileName.defaultValue = file_name
    link.linkedModelSearchPath.defaultValue = search_path
    return spec


def multi_input_nn(inputs: dict, add_layers, outputs=("out",)):
    """A network from coremltools' builder with ``inputs`` ({name: [C, H, W] or [C]}) and
    layers added by ``add_layers(builder)``; outputs are declared without a shape."""
    builder = NeuralNetworkBuilder(
        [(name, datatypes.Array(*chw)) for name, chw in inputs.items()],
        [(name, None) for name in outputs],
    )
    add_layers(builder)
    return builder.spec


def image_classifier(seed: int = 0, labels=("cat", "dog", "bird")):
    """A classifier with string labels on a BGR image input with preprocessing.

    `photo` 24x20 BGR image, scaled by 1/127.5 and biased per channel (red -0.4, green -0.5,
    blue -0.6) -> conv c1 3x3 (8, same) + relu r1 -> max pool 2 -> conv c2 3x3 (6, valid, no
    bias) -> global average pool -> innerProduct fc -> softmax -> `scores`; the predicted
    feature is `animal`.
    """
    rng = _rng(seed)
    n = len(labels)
    builder = NeuralNetworkBuilder(
        [("photo", datatypes.Array(3, 20, 24))],
        [("scores", datatypes.Array(n))],
        mode="classifier",
    )
    builder.add_convolution(
        "c1",
        3,
        8,
        3,
        3,
        1,
        1,
        "same",
        1,
        rng.standard_normal((3, 3, 3, 8)),
        rng.standard_normal(8),
        True,
        input_name="photo",
        output_name="c1",
    )
    builder.add_activation("r1", "RELU", "c1", "r1")
    builder.add_pooling("p1", 2, 2, 2, 2, "MAX", "VALID", "r1", "p1")
    builder.add_convolution(
        "c2",
        8,
        6,
        3,
        3,
        1,
        1,
        "valid",
        1,
        rng.standard_normal((3, 3, 8, 6)),
        None,
        False,
        input_name="p1",
        output_name="c2",
    )
    builder.add_pooling("gap", 1, 1, 1, 1, "AVERAGE", "VALID", "c2", "gap", is_global=True)
    builder.add_inner_product(
        "fc", rng.standard_normal((n, 6)), rng.standard_normal(n), 6, n, True, "gap", "logits"
    )
    builder.add_softmax("softmax", "logits", "scores")
    builder.set_class_labels(
        list(labels), predicted_feature_name="animal", prediction_blob="scores"
    )
    builder.set_pre_processing_parameters(
        image_input_names=["photo"],
        is_bgr=True,
        red_bias=-0.4,
        green_bias=-0.5,
        blue_bias=-0.6,
        image_scale=1 / 127.5,
    )
    return builder.spec


def embedding_extractor(seed: int = 0, output: str = "embedding"):
    """`image` Array(1, 8, 8) -> conv 3x3 (4) + relu -> global average pool -> innerProduct 6
    -> ``output`` Array(6); version 4."""
    rng = _rng(seed)
    builder = NeuralNetworkBuilder(
        [("image", datatypes.Array(1, 8, 8))], [(output, datatypes.Array(6))]
    )
    builder.add_convolution(
        "conv",
        1,
        4,
        3,
        3,
        1,
        1,
        "valid",
        1,
        rng.standard_normal((3, 3, 1, 4)),
        rng.standard_normal(4),
        True,
        input_name="image",
        output_name="c",
    )
    builder.add_activation("relu", "RELU", "c", "r")
    builder.add_pooling("gap", 1, 1, 1, 1, "AVERAGE", "VALID", "r", "gap", is_global=True)
    builder.add_inner_product(
        "ip", rng.standard_normal((6, 4)), rng.standard_normal(6), 4, 6, True, "gap", output
    )
    builder.spec.specificationVersion = 4
    return builder.spec


def extractor_knn_pipeline(seed: int = 0, k: int = 3, labels=("circle", "square", "star")):
    """A `pipelineClassifier` from coremltools' ``PipelineClassifier``: `embedding_extractor`
    then a uniform kNN on `embedding` (k = ``k``, default label `unknown`) holding 12 random
    6-d samples labelled in turn by ``labels``; outputs `shape` and `shapeProbs`.

    Returns ``(spec, points, sample_labels)``.
    """
    from coremltools.models.pipeline import PipelineClassifier

    rng = _rng(seed)
    points = rng.standard_normal((12, 6)).astype(np.float32) * 3
    sample_labels = [labels[i % len(labels)] for i in range(12)]
    knn = KNearestNeighborsClassifierBuilder(
        input_name="embedding",
        output_name="shape",
        number_of_dimensions=6,
        default_class_label="unknown",
        number_of_neighbors=k,
        weighting_scheme="uniform",
    )
    knn.add_samples(points, list(sample_labels))
    pipeline = PipelineClassifier(
        [("image", datatypes.Array(1, 8, 8))], list(labels), output_features=["shape", "shapeProbs"]
    )
    pipeline.add_model(embedding_extractor(seed))
    pipeline.add_model(knn.spec)
    pipeline.spec.specificationVersion = 4
    return pipeline.spec, points, sample_labels


def conv_adder(
    cin,
    cout,
    groups,
    kernel,
    stride,
    dilation,
    padding,
    seed,
    deconv=False,
    has_bias=True,
    output_shape=None,
):
    """``add_layer`` for ``single_layer_nn``: one convolution (or deconvolution) named `conv`
    with random weights ([H, W, Cin/groups, Cout] as the builder takes them).
    ``padding`` is ("valid", (top, bottom, left, right)) or ("same", asymmetry mode)."""
    rng = np.random.default_rng(seed)
    kc = cin if deconv else cin // groups
    per_out = cout // groups if deconv else cout
    w = rng.standard_normal((*kernel, kc, per_out))
    b = rng.standard_normal(cout) if has_bias else None
    mode, detail = padding
    extra = {}
    if mode == "valid":
        extra = dict(
            zip(
                ("padding_top", "padding_bottom", "padding_left", "padding_right"),
                detail,
                strict=True,
            )
        )
    else:
        extra = {"same_padding_asymmetry_mode": detail}

    def add(builder, inp, out):
        builder.add_convolution(
            "conv",
            kc,
            cout,
            kernel[0],
            kernel[1],
            stride[0],
            stride[1],
            mode,
            groups,
            w,
            b,
            has_bias,
            is_deconv=deconv,
            output_shape=output_shape,
            input_name=inp,
            output_name=out,
            dilation_factors=list(dilation),
            **extra,
        )

    return add


def dense_adder(cin, cout, seed, has_bias=True):
    """``add_layer`` for ``single_layer_nn``: one innerProduct named `dense`, random weights."""
    rng = np.random.default_rng(seed)
    w, b = rng.standard_normal((cout, cin)), rng.standard_normal(cout)

    def add(builder, inp, out):
        builder.add_inner_product(
            "dense", w, b if has_bias else None, cin, cout, has_bias, inp, out
        )

    return add


def pool_adder(kind, kernel, stride, padding, exclude):
    """``add_layer`` for ``single_layer_nn``: one pooling layer named `pool`; ``padding`` is
    ("valid", pads), ("same", mode), ("includeLastPixel", (pad_h, pad_w)) or ("global", None)."""
    mode, detail = padding
    extra = {"exclude_pad_area": exclude, "is_global": mode == "global"}
    if mode == "valid":
        extra.update(
            zip(
                ("padding_top", "padding_bottom", "padding_left", "padding_right"),
                detail,
                strict=True,
            )
        )
    elif mode == "same":
        extra["same_padding_asymmetry_mode"] = detail
    elif mode == "includeLastPixel":
        extra.update(
            padding_top=detail[0],
            padding_bottom=detail[0],
            padding_left=detail[1],
            padding_right=detail[1],
        )
    padding_type = {"global": "VALID", "includeLastPixel": "INCLUDE_LAST_PIXEL"}.get(
        mode, mode.upper()
    )
    kh, kw = kernel or (1, 1)
    sh, sw = stride or (1, 1)
    return lambda b, i, o: b.add_pooling("pool", kh, kw, sh, sw, kind, padding_type, i, o, **extra)


# --- models for hyperparameter sweeps (tests/test_sweep*.py, scripts/bench_sweep.py) -------


def sweep_classifier(
    labels=("a", "b", "c"),
    lr=0.05,
    lr_range=(0.0, 50.0),
    batch=4,
    batches=(1, 4, 16),
    epochs=5,
    epoch_set=(2, 5),
    seed: int = 0,
):
    """`classifier_nn` with ``labels``, dense1 and dense2 updatable by coremltools' builder:
    CCE on `probs`, SGD lr ``lr`` in ``lr_range`` (momentum 0 in [0, 1]), batch ``batch`` from
    ``batches``, epochs ``epochs`` from ``epoch_set``; a wide learning-rate range on purpose,
    so that a sweep finds values that diverge."""
    builder = NeuralNetworkBuilder(spec=classifier_nn(seed, labels=labels))
    with _quiet():
        builder.make_updatable(["dense1", "dense2"])
        builder.set_categorical_cross_entropy_loss("lossLayer", input="probs")
        sgd = SgdParams(lr=lr, batch=batch)
        sgd.set_lr(lr, *lr_range)
        sgd.set_batch(batch, list(batches))
        builder.set_sgd_optimizer(sgd)
        builder.set_epochs(epochs, list(epoch_set))
    return builder.spec


def sweep_mnist_head(seed: int = 0):
    """The demo-style model of a sweep: `mnist_convnet` on a 28x28 grayscale image with only
    its head `dense_2` updatable (coremltools' builder), CCE on `digitProbabilities`, SGD lr
    0.01 in [0, 1], batch 8 from {1, 8, 32}, epochs 5 from {2, 5, 10}."""
    builder = NeuralNetworkBuilder(spec=mnist_convnet(seed, image_input=True))
    with _quiet():
        builder.make_updatable(["dense_2"])
        builder.set_categorical_cross_entropy_loss("lossLayer", input="digitProbabilities")
        sgd = SgdParams(lr=0.01, batch=8)
        sgd.set_lr(0.01, 0.0, 1.0)
        sgd.set_batch(8, [1, 8, 32])
        builder.set_sgd_optimizer(sgd)
        builder.set_epochs(5, [2, 5, 10])
    return builder.spec


def features_head_pipeline(seed: int = 0):
    """`nn_head_pipeline`'s frozen extractor (`input` Array(4) -> 3 features) in front of an
    updatable classifier head (dense, softmax `probs`, labels cat/dog, CCE, SGD lr 0.1 in
    [0, 10], batch 4 from {2, 4}, epochs 3 from {3}), assembled by ``updatable.make_pipeline``."""
    import updatable

    pipeline = nn_head_pipeline(seed)
    extractor, head = pipeline.pipelineClassifier.pipeline.models
    builder = NeuralNetworkBuilder(spec=head)
    with _quiet():
        builder.make_updatable(["dense"])
        builder.set_categorical_cross_entropy_loss("lossLayer", input="probs")
        sgd = SgdParams(lr=0.1, batch=4)
        sgd.set_lr(0.1, 0.0, 10.0)
        sgd.set_batch(4, [2, 4])
        builder.set_sgd_optimizer(sgd)
        builder.set_epochs(3, [3])
    return updatable.make_pipeline(extractor, builder.spec)


def digit_convnet(weights: dict, labels=tuple(str(d) for d in range(7))):
    """The demo's base digit classifier (runtime.demo.base) written by coremltools' builder
    with the given weights: ``weights[layer] = (W, b)`` in Core ML layout (convolutions
    ``[Cout, Cin, 3, 3]``, innerProducts ``[out, in]``).

    `image` 28x28 grayscale scaled 1/255 -> conv1 (8@3x3) relu pool -> conv2 (16@3x3) relu
    pool -> flatten -> dense1 (400->64) relu `embedding` -> dense2 (64->len(labels)) softmax
    `labelProbabilities`; predicted feature `label`.
    """
    builder = NeuralNetworkBuilder(
        [("image", datatypes.Array(1, 28, 28))],
        [("labelProbabilities", datatypes.Array(len(labels)))],
        mode="classifier",
    )
    blob = "image"
    for index, (cin, cout) in enumerate(((1, 8), (8, 16)), start=1):
        w, b = weights[f"conv{index}"]
        builder.add_convolution(
            f"conv{index}",
            kernel_channels=cin,
            output_channels=cout,
            height=3,
            width=3,
            stride_height=1,
            stride_width=1,
            border_mode="valid",
            groups=1,
            W=np.asarray(w).transpose(2, 3, 1, 0),  # the builder takes [kH, kW, Cin, Cout]
            b=np.asarray(b),
            has_bias=True,
            input_name=blob,
            output_name=f"c{index}",
        )
        builder.add_activation(f"relu{index}", "RELU", f"c{index}", f"c{index}r")
        builder.add_pooling(f"pool{index}", 2, 2, 2, 2, "MAX", "VALID", f"c{index}r", f"p{index}")
        blob = f"p{index}"
    builder.add_flatten("flatten", 0, blob, "flat")
    for name, cin, cout, source, target in (
        ("dense1", 400, 64, "flat", "d1"),
        ("dense2", 64, len(labels), "embedding", "logits"),
    ):
        w, b = weights[name]
        builder.add_inner_product(
            name,
            W=np.asarray(w),
            b=np.asarray(b),
            input_channels=cin,
            output_channels=cout,
            has_bias=True,
            input_name=source,
            output_name=target,
        )
        if name == "dense1":
            builder.add_activation("relu3", "RELU", "d1", "embedding")
    builder.add_softmax("softmax", "logits", "labelProbabilities")
    builder.set_class_labels(
        list(labels), predicted_feature_name="label", prediction_blob="labelProbabilities"
    )
    builder.set_pre_processing_parameters(image_input_names=["image"], image_scale=1 / 255.0)
    spec = builder.spec
    _to_grayscale_image(spec, "image", 28, 28)
    return spec
