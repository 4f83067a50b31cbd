"""Training through a uniDirectionalLSTM: Core ML backpropagates through it and lets it be
updatable, so a network with an LSTM between an updatable layer and the loss trains.

The network (coremltools' builder, rank-5): ``x`` [S * D] -> reshape to S steps -> per-step
innerProduct ``proj`` (updatable) -> tanh -> uniDirectionalLSTM ``lstm`` (final output) ->
innerProduct ``head`` (updatable) -> softmax -> cross-entropy. Checked: the training slice,
float64 central differences and torch autograd of the whole slice (the LSTM updatable or
not), an UpdateTask whose loss falls, and the write-back of trained LSTM weights.
"""

from __future__ import annotations

import numpy as np
import pytest

import runtime
import updatable
from runtime.model.mlmodel import Model
from runtime.training import backprop
from runtime.training.providers import ArrayBatchProvider
from runtime.training.task import Event, UpdateProgressHandlers, UpdateTask
from tests import builders
from tests import sequence_reference as ref
from tests.builders._common import NeuralNetworkBuilder, datatypes
from tests.optional import needs, optional_import
from tests.test_layers_lstm import GATES, f32

torch = optional_import("torch")
F = optional_import("torch.nn.functional")

SEQ, FEATURES, PROJ, HIDDEN, CLASSES = 6, 3, 5, 4, 3


def lstm_classifier(
    seed: int = 0, lstm_updatable: bool = False, lr: float = 0.05, epochs: int = 12
):
    rng = np.random.default_rng(seed)
    builder = NeuralNetworkBuilder(
        [("x", datatypes.Array(SEQ * FEATURES, 1, 1))], [("probs", datatypes.Array(CLASSES))]
    )
    builder.add_reshape("steps", "x", "steps_out", (SEQ, FEATURES, 1, 1), 0)
    builder.add_inner_product(
        "proj",
        W=rng.standard_normal((PROJ, FEATURES)) * 0.7,
        b=rng.standard_normal(PROJ) * 0.1,
        input_channels=FEATURES,
        output_channels=PROJ,
        has_bias=True,
        input_name="steps_out",
        output_name="proj_out",
    )
    builder.add_activation("proj_act", "TANH", "proj_out", "proj_tanh")
    w = f32(ref.gates(rng, GATES, HIDDEN, PROJ, 0.6))
    w_h, w_x, b, _ = ref.lstm_lists(w)
    builder.add_unilstm(
        "lstm", w_h, w_x, b, HIDDEN, PROJ, ["proj_tanh"], ["lstm_out", "lstm_h", "lstm_c"]
    )
    builder.add_inner_product(
        "head",
        W=rng.standard_normal((CLASSES, HIDDEN)),
        b=np.zeros(CLASSES),
        input_channels=HIDDEN,
        output_channels=CLASSES,
        has_bias=True,
        input_name="lstm_out",
        output_name="logits",
    )
    builder.add_softmax("softmax", "logits", "probs")
    spec = builders.make_trainable(
        builder.spec, ["proj", "head"], loss_input="probs", lr=lr, batch=8, epochs=epochs
    )
    if lstm_updatable:  # Core ML's validator accepts an updatable LSTM, without weight flags
        next(layer for layer in spec.neuralNetwork.layers if layer.name == "lstm").isUpdatable = 1
    return spec


def training_slice(spec, dtype=np.float64):
    network = Model.load(spec).engine.network
    nn = spec.neuralNetwork
    names = {layer.name for layer in nn.layers if layer.isUpdatable}
    cut = backprop.build_slice(network.steps, names, nn.updateParams.lossLayers[0])
    for step in cut.train_steps + cut.frozen_steps:
        step.params = {k: v.astype(dtype) for k, v in step.params.items()}
    return cut


def test_the_slice_runs_through_the_lstm_and_its_relayouts():
    spec = lstm_classifier(lstm_updatable=True)
    assert not [i for i in updatable.validate(spec) if i.severity == "error"]
    cut = training_slice(spec)
    kinds = [s.kind.oneof for s in cut.train_steps]
    # the tanh is fused into proj; head runs nd after the LSTM, its logits go back to chw
    # for the softmax
    assert kinds == ["innerProduct", "relayout", "uniDirectionalLSTM", "innerProduct", "relayout"]
    assert cut.updatable == {"proj", "lstm", "head"} and cut.boundary == ("steps_out",)


def _batch(seed, count=5):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((count, SEQ * FEATURES)), rng.integers(0, CLASSES, count)


@pytest.mark.parametrize("lstm_updatable", [False, True])
def test_slice_gradients_match_central_differences(lstm_updatable):
    cut = training_slice(lstm_classifier(seed=1, lstm_updatable=lstm_updatable))
    x, target = _batch(2)
    boundary = backprop.run_steps(
        cut.frozen_steps, {"x": x.reshape(-1, 1, 1, SEQ * FEATURES)}, cut.boundary
    )
    _, grads, _ = backprop.loss_and_gradients(cut, boundary, target)
    expected = {"proj/W", "proj/b", "head/W", "head/b"}
    assert set(grads) == expected | ({"lstm/W", "lstm/R", "lstm/b"} if lstm_updatable else set())
    steps = {s.name: s for s in cut.train_steps}
    rng = np.random.default_rng(3)
    for key, grad in grads.items():
        layer, param = key.split("/")
        array = steps[layer].params[param]
        for index in rng.choice(array.size, size=min(10, array.size), replace=False):
            saved = array.flat[index]
            losses = []
            for delta in (1e-6, -1e-6):
                array.flat[index] = saved + delta
                losses.append(backprop.loss_and_gradients(cut, boundary, target)[0])
            array.flat[index] = saved
            numeric = (losses[0] - losses[1]) / 2e-6
            assert grad.flat[index] == pytest.approx(numeric, rel=1e-5, abs=1e-9), key


@needs("torch")
def test_slice_gradients_match_torch_autograd():
    spec = lstm_classifier(seed=4, lstm_updatable=True)
    cut = training_slice(spec)
    steps = {s.name: s for s in cut.train_steps}
    x, target = _batch(5, count=6)
    boundary = backprop.run_steps(
        cut.frozen_steps, {"x": x.reshape(-1, 1, 1, SEQ * FEATURES)}, cut.boundary
    )
    loss, grads, _ = backprop.loss_and_gradients(cut, boundary, target)

    def leaf(array):
        return torch.tensor(np.ascontiguousarray(array), requires_grad=True)

    proj_w, proj_b = leaf(steps["proj"].params["W"]), leaf(steps["proj"].params["b"])
    head_w, head_b = leaf(steps["head"].params["W"]), leaf(steps["head"].params["b"])
    lstm = torch.nn.LSTM(PROJ, HIDDEN, batch_first=True).double()
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.tensor(steps["lstm"].params["W"].T))
        lstm.weight_hh_l0.copy_(torch.tensor(steps["lstm"].params["R"].T))
        lstm.bias_ih_l0.copy_(torch.tensor(steps["lstm"].params["b"]))
        lstm.bias_hh_l0.zero_()
    hidden = torch.tanh(torch.tensor(x).reshape(6, SEQ, FEATURES) @ proj_w + proj_b)
    out, _ = lstm(hidden)
    torch_loss = F.cross_entropy(out[:, -1] @ head_w + head_b, torch.tensor(target))
    torch_loss.backward()
    assert loss == pytest.approx(torch_loss.item(), rel=1e-12)
    for key, tensor in (
        ("proj/W", proj_w),
        ("proj/b", proj_b),
        ("head/W", head_w),
        ("head/b", head_b),
    ):
        np.testing.assert_allclose(grads[key], tensor.grad.numpy(), atol=1e-12, err_msg=key)
    np.testing.assert_allclose(grads["lstm/W"].T, lstm.weight_ih_l0.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(grads["lstm/R"].T, lstm.weight_hh_l0.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(grads["lstm/b"], lstm.bias_ih_l0.grad.numpy(), atol=1e-12)


def _task_data(count=48, seed=7):
    """Label = the step (of the first three) whose first feature is largest: the LSTM must
    carry information across steps."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((count, SEQ, FEATURES)).astype(np.float32)
    labels = np.argmax(x[:, :CLASSES, 0], axis=1)
    return x.reshape(count, SEQ * FEATURES, 1, 1), labels


def _mean_cross_entropy(outputs, labels):
    probs = np.array([np.asarray(out["probs"]).reshape(-1) for out in outputs])
    return float(-np.log(probs[np.arange(len(labels)), labels]).mean())


@pytest.mark.parametrize("lstm_updatable", [False, True])
def test_an_update_task_trains_through_the_lstm_and_writes_its_weights_back(lstm_updatable):
    spec = lstm_classifier(seed=2, lstm_updatable=lstm_updatable, lr=1.0, epochs=30)
    x, labels = _task_data()
    result = {}

    def completion(context):
        result["spec"] = context.model.spec()
        result["predictions"] = context.model.predict_batch({"x": list(x)})

    provider = ArrayBatchProvider({"x": x, "probs_true": labels.astype(np.int32).reshape(-1, 1)})
    task = UpdateTask(
        spec,
        provider,
        progress_handlers=UpdateProgressHandlers(Event.EPOCH_END, lambda context: None, completion),
    )
    task.resume()
    task.wait()
    assert task.error is None, task.error
    before = _mean_cross_entropy(Model.load(spec).predict_batch({"x": list(x)}), labels)
    after = _mean_cross_entropy(result["predictions"], labels)
    assert after < 0.8 * before, (before, after)
    initial, trained = (
        next(
            layer.uniDirectionalLSTM.weightParams
            for layer in s.neuralNetwork.layers
            if layer.name == "lstm"
        )
        for s in (spec, result["spec"])
    )
    moved = np.abs(
        np.subtract(
            trained.inputGateWeightMatrix.floatValue, initial.inputGateWeightMatrix.floatValue
        )
    ).max()
    assert (moved > 1e-3) == lstm_updatable
    reloaded = Model.load(result["spec"]).predict_batch({"x": list(x)})
    for got, want in zip(reloaded, result["predictions"], strict=True):
        np.testing.assert_allclose(got["probs"], want["probs"], rtol=1e-6)


def test_training_examples_may_leave_optional_state_inputs_out():
    """The Keras text classifier's optional lstm_1_h_in / _c_in: examples without them train
    as if they held zeros; a batch mixing both fills the missing ones with zeros."""
    from tests.builders import converter_style

    spec = builders.make_trainable(
        converter_style.keras_text_lstm(),
        ["dense_1"],
        loss_input="output1",
        lr=0.1,
        batch=4,
        epochs=2,
    )
    tokens = np.arange(8, dtype=np.float32).reshape(8, 1)
    labels = np.array(["neg", "neu", "pos", "neg", "neu", "pos", "neg", "neu"])

    def trained(provider):
        result = {}

        def completion(context):
            result["weights"] = context.model.parameter_value(
                runtime.ParameterKey.WEIGHTS.scoped("dense_1")
            )

        task = UpdateTask(
            spec,
            provider,
            progress_handlers=UpdateProgressHandlers(
                Event.EPOCH_END, lambda context: None, completion
            ),
        )
        task.resume()
        task.wait()
        assert task.error is None, task.error
        return result["weights"]

    without = trained(ArrayBatchProvider({"input1": tokens, "classLabel": labels}))
    initial = runtime.Model.load(spec).engine.network.steps
    dense = next(step for step in initial if step.name == "dense_1")
    assert np.abs(without - dense.kind.export(dense.attrs, dense.params)["weights"]).max() > 1e-4

    class Mixed:
        count = 8

        def features(self, index):
            example = {"input1": tokens[index], "classLabel": labels[index]}
            if index % 2:
                example["lstm_1_h_in"] = np.zeros(16, np.float32)
            return example

    np.testing.assert_array_equal(trained(Mixed()), without)
