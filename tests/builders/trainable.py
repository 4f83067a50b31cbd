"""Updatable models, made updatable with coremltools' own builder methods."""

from __future__ import annotations

import contextlib
import io

from tests.builders._common import (
    AdamParams,
    NeuralNetworkBuilder,
    SgdParams,
    _quiet,
    _rng,
    datatypes,
)
from tests.builders.networks import classifier_nn, mnist_convnet
from updatable import proto


def updatable_nn(loss: str = "cce", optimizer: str = "sgd", seed: int = 0):
    """The base network of docs/mlmodel-format.md §6.4, made updatable by coremltools' builder.

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
    """The worked example of docs/mlmodel-format.md §5.6: `classifier_nn` with dense1 and dense2
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
    """Apple's updatable MNIST classifier (docs/mlmodel-format.md §6.5), small: `mnist_convnet`
    with a 28x28 grayscale image input, dense_1 and dense_2 updatable, CCE on `digitProbabilities`
    (training label `digit`), SGD lr 0.01 batch 32, 10 epochs. The convolutions stay frozen."""
    builder = NeuralNetworkBuilder(spec=mnist_convnet(seed, image_input=True))
    with _quiet():
        builder.make_updatable(["dense_1", "dense_2"])
        builder.set_categorical_cross_entropy_loss("lossLayer", input="digitProbabilities")
        builder.set_sgd_optimizer(SgdParams(lr=0.01, batch=32))
        builder.set_epochs(10)
    return builder.spec


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
