"""Whole-network gradients of the training slice: central differences (float64) and torch.

Networks built with coremltools' builder: conv -> relu -> pool -> flatten -> innerProduct ->
softmax -> cross-entropy (the updatable-MNIST shape, every trainable kind updatable), and an
MSE regression head. Also checks which layers run backward (only the slice) and that frozen
layers below the first updatable layer never do.
"""

from __future__ import annotations

import numpy as np
import pytest

from runtime.model.mlmodel import Model
from runtime.training import backprop
from tests import builders
from tests.optional import needs, optional_import
from tests.torch_coreml import TorchNetwork

torch = optional_import("torch")
F = optional_import("torch.nn.functional")


def _slice(spec, dtype=np.float64):
    network = Model.load(spec).engine.network
    nn = (
        spec.neuralNetworkClassifier
        if spec.HasField("neuralNetworkClassifier")
        else spec.neuralNetwork
    )
    updatable = {layer.name for layer in nn.layers if layer.isUpdatable}
    cut = backprop.build_slice(network.steps, updatable, nn.updateParams.lossLayers[0])
    for step in cut.train_steps + cut.frozen_steps:
        step.params = {k: v.astype(dtype) for k, v in step.params.items()}
    return network, cut


def _numeric(f, array, indices, eps=1e-6):
    out = []
    for index in indices:
        old = array.flat[index]
        array.flat[index] = old + eps
        plus = f()
        array.flat[index] = old - eps
        minus = f()
        array.flat[index] = old
        out.append((plus - minus) / (2 * eps))
    return np.asarray(out)


def _mnist_cut():
    spec = builders.updatable_mnist(layers=("conv2", "dense_1", "dense_2"))
    return spec, *_slice(spec)


def test_slice_covers_exactly_the_layers_between_updatable_layers_and_the_loss():
    _spec, _network, cut = _mnist_cut()
    assert [s.name for s in cut.frozen_steps] == ["conv1"]  # relu_c1 is fused into conv1
    assert [s.name for s in cut.train_steps] == ["conv2", "pool", "flatten", "dense_1", "dense_2"]
    assert cut.updatable == {"conv2", "dense_1", "dense_2"}
    assert cut.loss_blob == "logits"  # the softmax feeding the CCE is not run
    assert cut.boundary == ("c1r",)


@pytest.mark.parametrize("seed", [0, 1])
def test_cross_entropy_network_gradients_match_central_differences(seed):
    _spec, _network, cut = _mnist_cut()
    rng = np.random.default_rng(seed)
    x = rng.random((3, 28, 28, 1))
    boundary = backprop.run_steps(cut.frozen_steps, {"image": x}, cut.boundary)
    target = np.array([1, 7, 3])
    _loss, grads, _ = backprop.loss_and_gradients(cut, boundary, target)
    steps = {s.name: s for s in cut.train_steps}

    def loss_only():
        return backprop.loss_and_gradients(cut, boundary, target)[0]

    for key, grad in grads.items():
        layer, param = key.split("/")
        array = steps[layer].params[param]
        indices = rng.choice(array.size, size=min(12, array.size), replace=False)
        numeric = _numeric(loss_only, array, indices)
        np.testing.assert_allclose(
            grad.ravel()[indices], numeric, rtol=1e-5, atol=1e-9, err_msg=key
        )


@needs("torch")
def test_cross_entropy_network_gradients_match_torch_autograd():
    spec, _network, cut = _mnist_cut()
    rng = np.random.default_rng(3)
    x = rng.random((4, 1, 28, 28))
    target = np.array([0, 9, 4, 4])
    boundary = backprop.run_steps(
        cut.frozen_steps, {"image": x.transpose(0, 2, 3, 1)}, cut.boundary
    )
    loss, grads, _ = backprop.loss_and_gradients(cut, boundary, target)
    net = TorchNetwork(spec, trainable=("conv2", "dense_1", "dense_2"))
    logits = net.forward({"image": x})["logits"].reshape(4, -1)
    torch_loss = F.cross_entropy(logits, torch.as_tensor(target))
    torch_loss.backward()
    assert loss == pytest.approx(torch_loss.item(), rel=1e-10)
    steps = {s.name: s for s in cut.train_steps}
    for layer in ("conv2", "dense_1", "dense_2"):
        exported = steps[layer].kind.export(
            steps[layer].attrs, {"W": grads[f"{layer}/W"], "b": grads[f"{layer}/b"]}
        )
        for field, ours in exported.items():
            theirs = net.params[(layer, field)].grad.numpy()
            np.testing.assert_allclose(
                ours.ravel(), theirs.ravel(), rtol=1e-9, atol=1e-12, err_msg=f"{layer}.{field}"
            )


@needs("torch")
def test_mse_network_gradients_match_central_differences_and_torch():
    spec = builders.make_trainable(builders.base_nn(), ["ip1", "ip2"], mse_output=("ip2_out", (3,)))
    _network, cut = _slice(spec)
    assert cut.loss_kind == "meanSquaredErrorLossLayer" and cut.loss_blob == "ip2_out"
    rng = np.random.default_rng(5)
    x = rng.standard_normal((5, 1, 1, 3))
    target = rng.standard_normal((5, 1, 1, 3))
    loss, grads, _ = backprop.loss_and_gradients(cut, {"input": x}, target)
    steps = {s.name: s for s in cut.train_steps}
    for key, grad in grads.items():
        layer, param = key.split("/")
        array = steps[layer].params[param]
        numeric = _numeric(
            lambda: backprop.loss_and_gradients(cut, {"input": x}, target)[0],
            array,
            range(array.size),
        )
        np.testing.assert_allclose(grad.ravel(), numeric, rtol=1e-6, atol=1e-10, err_msg=key)
    net = TorchNetwork(spec, trainable=("ip1", "ip2"))
    out = net.forward({"input": x.reshape(5, 3)})["ip2_out"].reshape(5, 3)
    torch_loss = F.mse_loss(out, torch.as_tensor(target.reshape(5, 3)))
    torch_loss.backward()
    assert loss == pytest.approx(torch_loss.item(), rel=1e-12)
    np.testing.assert_allclose(
        steps["ip2"].kind.export(steps["ip2"].attrs, {"W": grads["ip2/W"]})["weights"],
        net.params[("ip2", "weights")].grad.numpy().reshape(3, 3),
        rtol=1e-10,
    )


def test_frozen_layers_never_run_backward(monkeypatch):
    spec = builders.updatable_mnist(layers=("dense_2",))
    _network, cut = _slice(spec, np.float32)
    assert [s.name for s in cut.train_steps] == ["dense_2"]
    calls = []
    for step in cut.frozen_steps:
        original = step.kind

        def spy(*args, _name=step.name, **kwargs):
            calls.append(_name)
            raise AssertionError("backward on a frozen layer")

        monkeypatch.setattr(step, "kind", type(original)(**{**original.__dict__, "backward": spy}))
    boundary = backprop.frozen_forward(
        cut, {"image": np.random.default_rng(0).random((2, 28, 28, 1)).astype(np.float32)}
    )
    _loss, grads, _ = backprop.loss_and_gradients(cut, boundary, np.array([1, 2]))
    assert calls == [] and set(grads) == {"dense_2/W", "dense_2/b"}
