"""Training parity with PyTorch: same network, initial weights and batch order -> same weights.

The network is the small updatable-MNIST classifier built with coremltools' builder, with a
convolution and both dense layers updatable (so gradients flow through the dense layers, the
ReLUs, max pooling and flatten into a convolution). It is made updatable once with
coremltools' own builder methods and once with this toolkit's surgery. PyTorch trains an
independent reading of the same protobuf (tests/torch_coreml.py) on the batches our task used:
Core ML's shuffle order and its padded last batch.
"""

from __future__ import annotations

import numpy as np
import pytest

import updatable
from runtime.training.loop import batch_count, batch_indices
from runtime.training.providers import ArrayBatchProvider
from runtime.training.shuffle import ShuffleOrder
from runtime.training.task import Event, UpdateProgressHandlers, UpdateTask
from tests import builders
from tests.digits import mnist_digits
from tests.optional import needs, optional_import
from tests.torch_coreml import TorchNetwork

torch = optional_import("torch")
F = optional_import("torch.nn.functional")

TRAINED = ("conv2", "dense_1", "dense_2")
EPOCHS, BATCH, COUNT, SEED = 3, 8, 20, 11


def _coremltools_made(optimizer, **hyper):
    spec = builders.mnist_convnet(seed=4)
    return builders.make_trainable(
        spec,
        TRAINED,
        loss_input="digitProbabilities",
        optimizer=optimizer,
        batch=BATCH,
        epochs=EPOCHS,
        **hyper,
    )


def _surgery_made(optimizer, lr, momentum=0.0, betas=(0.9, 0.999), eps=1e-8):
    spec = builders.mnist_convnet(seed=4)
    updatable.make_updatable(spec, list(TRAINED))
    updatable.set_loss(spec, "cross_entropy", input="digitProbabilities")
    if optimizer == "sgd":
        updatable.set_optimizer(
            spec, "sgd", learning_rate=lr, mini_batch_size=BATCH, momentum=momentum
        )
    else:
        updatable.set_optimizer(
            spec,
            "adam",
            learning_rate=lr,
            mini_batch_size=BATCH,
            beta1=betas[0],
            beta2=betas[1],
            eps=eps,
        )
    updatable.set_epochs(spec, EPOCHS)
    return spec


def _with_seed(spec):
    spec.neuralNetworkClassifier.updateParams.shuffle.defaultValue = True
    spec.neuralNetworkClassifier.updateParams.seed.defaultValue = SEED
    return spec


def _data():
    x, y = mnist_digits(COUNT, seed=2)
    return (x / 255.0).astype(np.float32), [str(int(v)) for v in y]


def _train_ours(spec, x, labels):
    result = {}

    def completion(context):
        result["weights"] = {
            layer: context.model.parameter_value(updatable_key("weights", layer))
            for layer in TRAINED
        }
        result["bias"] = {
            layer: context.model.parameter_value(updatable_key("biases", layer))
            for layer in TRAINED
        }

    task = UpdateTask(
        spec,
        ArrayBatchProvider({"image": x, "digit": labels}),
        progress_handlers=UpdateProgressHandlers(Event.EPOCH_END, lambda c: None, completion),
    )
    task.resume()
    task.wait()
    assert task.error is None, task.error
    return result


def updatable_key(name, layer):
    from runtime.model.configuration import ParameterKey

    return ParameterKey(name).scoped(layer)


def _train_torch(spec, x, labels, make_optimizer):
    net = TorchNetwork(spec, trainable=TRAINED, dtype=torch.float32)
    params = [t for t in net.params.values() if t.requires_grad]
    opt = make_optimizer(params)
    targets = np.asarray([int(v) for v in labels])  # labels '0'..'9' are their own indices
    order = ShuffleOrder(COUNT, SEED)
    for _ in range(EPOCHS):
        for b in range(batch_count(COUNT, BATCH)):
            idx = batch_indices(order.order, b, BATCH, partial=False)
            logits = net.forward({"image": x[idx]})["logits"].reshape(len(idx), -1)
            loss = F.cross_entropy(logits, torch.as_tensor(targets[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
        order.reshuffle()  # epochEnd is subscribed
    return {
        layer: {field: net.params[(layer, field)].detach().numpy() for field in ("weights", "bias")}
        for layer in TRAINED
    }


CASES = {
    "sgd-momentum": (
        "sgd",
        {"lr": 0.05, "momentum": 0.9},
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
    ),
    "adam": (
        "adam",
        {"lr": 0.002, "betas": (0.9, 0.999), "eps": 1e-8},
        lambda p: torch.optim.Adam(p, lr=0.002, betas=(0.9, 0.999), eps=1e-8),
    ),
}


@pytest.mark.parametrize("made_by", ["coremltools", "surgery"])
@pytest.mark.parametrize("case", sorted(CASES))
@needs("torch")
def test_weights_after_three_epochs_equal_pytorch(case, made_by):
    optimizer, hyper, make_torch_optimizer = CASES[case]
    spec = (
        _coremltools_made(optimizer, **hyper)
        if made_by == "coremltools"
        else _surgery_made(optimizer, **hyper)
    )
    spec = _with_seed(spec)
    x, labels = _data()
    ours = _train_ours(spec, x, labels)
    theirs = _train_torch(spec, x, labels, make_torch_optimizer)
    initial = TorchNetwork(spec, dtype=torch.float32).params
    for layer in TRAINED:
        for field, got in (("weights", ours["weights"][layer]), ("bias", ours["bias"][layer])):
            want = theirs[layer][field]
            moved = np.abs(want - initial[(layer, field)].numpy()).max()
            assert moved > 1e-4, f"{layer}.{field} did not train"
            what = f"{case} {made_by} {layer}.{field}"
            relative = np.linalg.norm(got.ravel() - want.ravel()) / np.linalg.norm(want)
            assert relative <= 1e-6, f"{what}: relative difference {relative:.2e}"
            if optimizer == "sgd":
                # SGD steps are proportional to the gradient, so float32 rounding stays at
                # rounding size element by element. Adam divides each element's step by its
                # own gradient scale: an element whose only gradient comes from a ReLU input
                # at the rounding edge moves a full learning-rate-sized step on one side and
                # not the other, so for Adam the whole-array relative norm is the measure.
                scale = np.abs(want).max()
                np.testing.assert_allclose(
                    got.ravel(), want.ravel(), rtol=1e-5, atol=1e-5 * scale, err_msg=what
                )
