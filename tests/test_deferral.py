"""Deferred epilogues: convolution bias + activation applied after a following max pool.

Every case compares a network run with the rewrite against the same network without it
(``Network.defer_epilogues = False``), on networks written by coremltools' builder, and checks
which steps the execution plan rewrote so that no comparison is vacuous. Training must not
see the rewrite: frozen boundaries, losses, gradients and a whole update task are compared.
"""

from __future__ import annotations

import numpy as np
import pytest

import runtime
from runtime.model.configuration import ModelConfiguration, ParameterKey
from runtime.nn import epilogues as deferral
from runtime.nn.graph import compile_network
from runtime.training import backprop
from runtime.training.providers import ArrayBatchProvider
from runtime.training.task import UpdateTask
from scripts.architectures import squeezenet_1_1
from tests import builders

# (builder non-linearity, params, exact): piecewise-linear activations commute with max bit
# for bit; sigmoid and tanh to float32 rounding
NON_DECREASING = [
    ("RELU", None, True),
    (None, None, True),
    ("LEAKYRELU", [0.1], True),
    ("LINEAR", [0.5, 0.2], True),
    ("SIGMOID", None, False),
    ("TANH", None, False),
]
NOT_MONOTONE = [("LEAKYRELU", [-0.5]), ("SCALED_TANH", [-1.0, 0.7]), ("LINEAR", [-1.0, 0.0])]


def _rewritten(network, start=0, stop=None, wanted=None):
    stop = len(network.steps) if stop is None else stop
    plan = network.plan(start, stop, tuple(network.outputs if wanted is None else wanted))
    return [network.steps[start + i].name for i in sorted(plan.rewrites)]


def _both(network, feeds, outputs=None):
    network.defer_epilogues = True
    deferred = network.run(feeds, outputs=outputs)
    network.defer_epilogues = False
    plain = network.run(feeds, outputs=outputs)
    network.defer_epilogues = True
    return deferred, plain


def _data(n=3, seed=0):
    return {"data": np.random.default_rng(seed).standard_normal((n, 17, 17, 3), np.float32)}


@pytest.mark.parametrize(("activation", "params", "exact"), NON_DECREASING)
def test_deferred_epilogues_give_the_unfused_results(activation, params, exact):
    network = compile_network(builders.fire_net(activation, params, pool_pads=(2, 0, 2, 0)))
    assert _rewritten(network) == ["conv1", "pool1", "expand1x1", "expand3x3", "pool2"]
    deferred, plain = _both(network, _data(), outputs=["p1", "p2", "probs"])
    for name in deferred:
        if exact:
            np.testing.assert_array_equal(deferred[name], plain[name], err_msg=name)
        else:
            np.testing.assert_allclose(deferred[name], plain[name], rtol=1e-6, atol=1e-7)
    # pool2's top row and left column of windows lie wholly in its padding: 0, not f(bias)
    assert not deferred["p2"][:, 0].any() and not deferred["p2"][:, :, 0].any()
    assert deferred["p2"][:, 1:, 1:].any()


@pytest.mark.parametrize(("activation", "params"), NOT_MONOTONE)
def test_activations_that_do_not_commute_with_max_are_not_deferred(activation, params):
    network = compile_network(builders.fire_net(activation, params))
    assert _rewritten(network) == []
    deferred, plain = _both(network, _data(seed=1))
    np.testing.assert_array_equal(deferred["probs"], plain["probs"])


def test_blobs_that_are_read_elsewhere_keep_their_full_values():
    network = compile_network(builders.fire_net())
    # wanting a convolution's or the concat's output keeps those epilogues in place
    assert _rewritten(network, wanted=("c1_act", "probs")) == ["expand1x1", "expand3x3", "pool2"]
    assert _rewritten(network, wanted=("fire", "probs")) == ["conv1", "pool1"]
    got, plain = _both(network, _data(seed=2), outputs=["c1_act", "fire", "probs"])
    for name in plain:
        np.testing.assert_array_equal(got[name], plain[name], err_msg=name)
    # a run that starts at the pool reads the convolution's output as a feed: no rewrite
    start = network.index_of("pool1")
    assert "pool1" not in _rewritten(network, start=start)
    unfused = compile_network(builders.fire_net(), fuse=False)
    assert not unfused.defer_epilogues and _rewritten(unfused) == []


def test_squeezenet_defers_exactly_the_epilogues_in_front_of_its_max_pools():
    network = compile_network(squeezenet_1_1(num_classes=10))
    rewritten = _rewritten(network)
    pools = [s.name for s in network.steps if s.kind.oneof == "pooling" and s.attrs.type == "MAX"]
    expands = [f"{fire}_expand{k}" for fire in ("fire3", "fire5") for k in ("1x1", "3x3")]
    assert sorted(rewritten) == sorted(["conv1", *pools, *expands])
    x = np.random.default_rng(3).standard_normal((2, 227, 227, 3)).astype(np.float32)
    deferred, plain = _both(network, {"data": x}, outputs=["probs", *pools])
    for name in plain:
        np.testing.assert_array_equal(deferred[name], plain[name], err_msg=name)


def test_bias_replaced_after_compiling_or_after_a_run_is_applied():
    spec = builders.mnist_convnet(classifier=False)
    x = np.random.default_rng(4).random((2, 1, 28, 28)).astype(np.float32)
    bias = np.linspace(-1, 1, 16)
    configuration = ModelConfiguration(parameters={ParameterKey.BIASES.scoped("conv2"): bias})
    model = runtime.Model.load(spec, configuration)
    assert _rewritten(model.engine.network) == ["conv2", "pool"]
    edited = builders.mnist_convnet(classifier=False)
    conv2 = next(layer for layer in edited.neuralNetwork.layers if layer.name == "conv2")
    conv2.convolution.bias.floatValue[:] = bias.astype(np.float32)
    reference = runtime.Model.load(edited)
    reference.engine.network.defer_epilogues = False
    got = model.engine.run({"image": x})["digitProbabilities"]
    expected = reference.engine.run({"image": x})["digitProbabilities"]
    np.testing.assert_array_equal(got, expected)
    # parameters replaced between runs (training replaces, never mutates) apply too
    for network in (model.engine.network, reference.engine.network):
        step = network.steps[network.index_of("conv2")]
        step.params = {**step.params, "b": step.params["b"] - 0.5}
    got = model.engine.run({"image": x})["digitProbabilities"]
    expected = reference.engine.run({"image": x})["digitProbabilities"]
    np.testing.assert_array_equal(got, expected)


def _mnist_cut(layers):
    spec = builders.updatable_mnist(layers=layers, batch=4)
    network = runtime.Model.load(spec).engine.network
    nn = spec.neuralNetworkClassifier
    updatable = {layer.name for layer in nn.layers if layer.isUpdatable}
    return spec, backprop.build_slice(network.steps, updatable, nn.updateParams.lossLayers[0])


def test_the_frozen_part_defers_and_training_sees_the_same_values():
    _spec, cut = _mnist_cut(("dense_1", "dense_2"))
    x = {"image": np.random.default_rng(5).random((4, 28, 28, 1)).astype(np.float32)}
    target = np.array([3, 1, 4, 1])
    plain = backprop.frozen_forward(cut, x, defer=False)
    for _ in range(2):  # the second batch runs the plan with in-place buffers
        deferred = backprop.frozen_forward(cut, x)
        np.testing.assert_array_equal(deferred["flat"], plain["flat"])
    plan = cut.plans[(("image",), True)]
    assert [plan.steps[i].name for i in sorted(plan.rewrites)] == ["conv2", "pool"]
    conv2 = next(s for s in cut.frozen_steps if s.name == "conv2")
    assert conv2.attrs.activation == "ReLU" and "b" in conv2.params  # steps untouched
    loss, grads, _ = backprop.loss_and_gradients(cut, deferred, target)
    loss_plain, grads_plain, _ = backprop.loss_and_gradients(cut, plain, target)
    assert loss == loss_plain
    for key in grads:
        np.testing.assert_array_equal(grads[key], grads_plain[key], err_msg=key)


def test_an_updatable_convolution_before_a_pool_trains_without_the_rewrite():
    _spec, cut = _mnist_cut(("conv2", "dense_1", "dense_2"))
    assert [s.name for s in cut.train_steps][:2] == ["conv2", "pool"]
    backprop.frozen_forward(cut, _mnist_batch())
    assert all(not plan.rewrites for plan in cut.plans.values())  # conv1 feeds no pool
    pool = cut.train_steps[1]
    assert pool.attrs.epilogue is False and cut.train_steps[0].attrs.activation == "ReLU"


def _mnist_batch():
    return {"image": np.random.default_rng(6).random((4, 28, 28, 1)).astype(np.float32)}


def _trained_weights(spec, x, y):
    weights = {}

    def done(context):
        for layer in ("dense_1", "dense_2"):
            weights[layer] = context.model.parameter_value(ParameterKey.WEIGHTS.scoped(layer))

    from runtime.training.task import Event, UpdateProgressHandlers

    task = UpdateTask(
        spec,
        ArrayBatchProvider({"image": x, "digit": y}),
        None,
        UpdateProgressHandlers(Event(0), None, done),
    )
    task.resume()
    task.wait()
    assert task.error is None, task.error
    return weights


def test_an_update_task_trains_the_same_weights_with_and_without_the_rewrite(monkeypatch):
    spec = builders.updatable_mnist(batch=4, epochs=2)
    rng = np.random.default_rng(7)
    x = rng.random((12, 1, 28, 28)).astype(np.float32)
    y = np.array([str(v) for v in rng.integers(0, 10, 12)], dtype=object)
    deferred = _trained_weights(spec, x, y)
    monkeypatch.setattr(deferral, "rewrites", lambda steps, wanted, inputs: {})
    plain = _trained_weights(spec, x, y)
    for layer in deferred:
        np.testing.assert_array_equal(deferred[layer], plain[layer], err_msg=layer)
