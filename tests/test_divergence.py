"""Training that diverges without a non-finite loss: weights that blow up fail the task like
a NaN loss, a loss that grows warns, and a softmax over one element is linted.

Before: a learning rate inside the model's allowed range took the weights to 4.5e14 (loss
4.8e19, finite) and the task completed, writing that model; a loss growing fifty-fold
finished without a word; cross-entropy on a one-element softmax (loss always 0) passed
validation and lint silently.
"""

from __future__ import annotations

import numpy as np
import pytest

import runtime
import updatable
from runtime.model.configuration import DivergenceSettings
from runtime.training.divergence import DivergenceError, WeightWatch
from tests import builders
from tests.builders._common import NeuralNetworkBuilder, SgdParams, _quiet, datatypes
from updatable import DoubleParam, IntParam
from updatable.cli import main
from updatable.validation import validate


def regressor(lr: float, epochs: int):
    """The MSE network, its learning rate allowed up to 10: with inputs of scale 3, SGD at
    0.25 overshoots and the weights grow geometrically, the loss staying finite a while."""
    spec = builders.updatable_nn("mse")
    updatable.set_optimizer(
        spec,
        "sgd",
        learning_rate=DoubleParam(lr, range=(0.0, 10.0)),
        mini_batch_size=IntParam(10, range=(1, 100)),
    )
    updatable.set_epochs(spec, IntParam(epochs, range=(1, 100)))
    return spec


def data():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((20, 3)) * 3).astype(np.float32)
    y = rng.standard_normal((20, 3)).astype(np.float32)
    return {"input": x, "output_true": y}


def _run(spec, configuration=None):
    trained, losses = {}, []

    def progress(context):
        losses.append(float(context.metrics[runtime.MetricKey.LOSS_VALUE]))

    def completion(context):
        if context.model is not None:
            trained.update(
                {
                    layer: context.model.parameter_value(runtime.ParameterKey.WEIGHTS.scoped(layer))
                    for layer in ("ip1", "ip2")
                }
            )

    handlers = runtime.UpdateProgressHandlers(runtime.Event.EPOCH_END, progress, completion)
    task = runtime.UpdateTask(spec, runtime.ArrayBatchProvider(data()), configuration, handlers)
    task.resume()
    task.wait(60)
    return task, trained, losses


def test_weights_blown_up_with_a_finite_loss_fail_the_task_and_nothing_is_handed_out():
    spec = regressor(0.25, 3)
    unchecked = runtime.ModelConfiguration(divergence=DivergenceSettings(None, None))
    task, trained, losses = _run(spec, unchecked)
    # what happened before: a finite loss, weights grown past 1e14, the task completed
    assert task.state is runtime.TaskState.COMPLETED and np.isfinite(losses).all()
    assert max(np.abs(w).max() for w in trained.values()) > 1e14
    task, trained, losses = _run(spec)
    assert task.state is runtime.TaskState.FAILED and trained == {}
    assert isinstance(task.error, DivergenceError)
    message = str(task.error)
    assert message.startswith("the weights of layer 'ip")
    assert (
        "during epoch 2, past 1e+06 times their starting scale: training diverged; lower the "
        "learning rate" in message
    )
    assert len(losses) == 2  # the diverged epoch's epochEnd was never delivered


def test_non_finite_weights_fail_even_without_a_growth_bound():
    watch = WeightWatch({"dense": {"weights": np.ones(3)}}, None)
    watch.check({"dense": {"weights": np.full(3, 1e30)}}, 0)  # no bound: only finiteness
    with pytest.raises(
        DivergenceError,
        match=r"^the weights of layer 'dense' became inf "
        r"during epoch 4",
    ):
        watch.check({"dense": {"weights": np.array([1.0, np.inf])}}, 4)


def test_a_layer_starting_near_zero_may_reach_the_bound_times_one():
    watch = WeightWatch({"fresh": {"weights": np.zeros(4), "bias": np.zeros(1)}}, 1e6)
    watch.check({"fresh": {"weights": np.full(4, 9e5), "bias": np.zeros(1)}}, 0)
    with pytest.raises(DivergenceError, match=r"grew from at most 0 to 2e\+06"):
        watch.check({"fresh": {"weights": np.full(4, 2e6), "bias": np.zeros(1)}}, 1)


def test_the_command_line_fails_a_blown_up_run_and_writes_nothing(tmp_path, capsys):
    model, npz, out = tmp_path / "Regressor.mlmodel", tmp_path / "d.npz", tmp_path / "o.mlmodel"
    updatable.save(regressor(0.25, 3), model)
    np.savez(npz, **data())
    assert main(["train", str(model), "--data", str(npz), "--out", str(out), "--plain"]) == 1
    err = capsys.readouterr().err
    assert "error: the weights of layer" in err and "training diverged" in err
    assert not out.exists()


def test_a_growing_loss_is_a_warning_in_the_epoch_table_and_at_the_end(tmp_path, capsys):
    model, npz, out = tmp_path / "Regressor.mlmodel", tmp_path / "d.npz", tmp_path / "o.mlmodel"
    updatable.save(regressor(0.25, 2), model)
    np.savez(npz, **data())
    assert main(["train", str(model), "--data", str(npz), "--out", str(out), "--plain"]) == 0
    text = capsys.readouterr().out
    warnings = [line.strip() for line in text.splitlines() if "warning:" in line]
    assert len(warnings) == 2, text  # in the table, then before the result
    assert warnings[0].startswith("warning: epoch 2: the mean loss ")
    assert "x the first epoch's" in warnings[0] and warnings[0].endswith(
        "training is diverging; lower --lr"
    )
    assert out.exists()


def test_a_job_reports_the_loss_growth_metric_and_the_cli_warns(tmp_path, capsys):
    job = runtime.train(
        regressor(0.25, 2),
        runtime.ArrayBatchProvider(data()),
        session_parameters=runtime.TrainingSessionParameters(iterations=2),
    )
    result = job.wait(60)
    growth = result.metrics[runtime.ProgressMetric.LOSS_GROWTH]
    assert growth > 10
    model, npz = tmp_path / "Regressor.mlmodel", tmp_path / "d.npz"
    updatable.save(regressor(0.25, 2), model)
    np.savez(npz, **data())
    argv = [
        "train",
        str(model),
        "--data",
        str(npz),
        "--session",
        str(tmp_path / "s"),
        "--plain",
        "--out",
        str(tmp_path / "o.mlmodel"),
    ]
    assert main(argv) == 0
    assert "warning: epoch 2: the mean loss" in capsys.readouterr().out


def _one_class_network():
    builder = NeuralNetworkBuilder([("x", datatypes.Array(3))], [("p", datatypes.Array(1))])
    builder.add_inner_product(
        "fc",
        W=np.ones((1, 3)),
        b=np.zeros(1),
        input_channels=3,
        output_channels=1,
        has_bias=True,
        input_name="x",
        output_name="z",
    )
    builder.add_softmax("softmax", "z", "p")
    with _quiet():
        builder.make_updatable(["fc"])
        builder.set_categorical_cross_entropy_loss("lossLayer", input="p")
    builder.set_sgd_optimizer(SgdParams(lr=0.1))
    builder.set_epochs(2)
    return builder.spec


def test_cross_entropy_on_a_one_element_softmax_is_linted():
    spec = _one_class_network()
    issues = [i for i in validate(spec) if i.code == "X14"]
    assert len(issues) == 1 and issues[0].severity == "warning"
    assert issues[0].where == "layers['softmax']"
    assert issues[0].message.startswith(
        "cross-entropy loss 'lossLayer' reads softmax 'softmax' over 1 element: its only "
        "probability is always 1, so the loss is always 0 and nothing trains"
    )
    assert not [i for i in validate(builders.updatable_nn("cce")) if i.code == "X14"]
    assert not [i for i in validate(builders.updatable_classifier()) if i.code == "X14"]
