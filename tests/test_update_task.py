"""UpdateTask on neural networks: Core ML's events, metrics, states, batching and failures."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import updatable
from runtime.model.configuration import ModelConfiguration, ParameterKey
from runtime.training.providers import ArrayBatchProvider, BatchProvider
from runtime.training.shuffle import ShuffleOrder
from runtime.training.task import (
    Event,
    MetricKey,
    ModelInvalidatedError,
    TaskState,
    UpdateProgressHandlers,
    UpdateTask,
)
from tests import builders
from updatable.errors import ParameterError, ValidationError

ALL = Event.TRAINING_BEGIN | Event.EPOCH_END | Event.MINI_BATCH_END
LABELS = ("cat", "dog")


def classifier(batch=4, epochs=2, lr=0.05, seed=None, shuffle=True, batch_set=None):
    spec = builders.make_trainable(
        builders.classifier_nn(),
        ["dense1", "dense2"],
        loss_input="probs",
        lr=lr,
        batch=batch,
        epochs=epochs,
    )
    params = spec.neuralNetworkClassifier.updateParams
    if batch_set is not None:
        params.optimizer.sgdOptimizer.miniBatchSize.set.ClearField("values")
        params.optimizer.sgdOptimizer.miniBatchSize.set.values.extend(batch_set)
    params.shuffle.defaultValue = shuffle
    if seed is not None:
        params.seed.defaultValue = seed
    return spec


class Recording(BatchProvider):
    """Serves `count` examples and records every index Core ML's loop asks for."""

    def __init__(self, count, seed=0, bad=None):
        rng = np.random.default_rng(seed)
        self.x = rng.standard_normal((count, 4)).astype(np.float32)
        self.y = [LABELS[int(v[0] > 0)] for v in self.x]
        self.calls: list[int] = []
        self.bad = bad or {}

    @property
    def count(self):
        return len(self.x)

    def features(self, index):
        self.calls.append(index)
        if index in self.bad:
            return self.bad[index]
        return {"image": self.x[index], "label": self.y[index]}


def run(spec, provider, events=ALL, configuration=None, on_progress=None):
    log = []

    def progress(context):
        log.append((context.event, dict(context.metrics)))
        if on_progress is not None:
            on_progress(context)

    def completion(context):
        log.append(("completion", dict(context.metrics), context.task.state, context.model is None))

    task = UpdateTask(
        spec, provider, configuration, UpdateProgressHandlers(events, progress, completion)
    )
    assert task.state is TaskState.SUSPENDED
    task.resume()
    task.wait()
    return task, log


@pytest.mark.parametrize("count, batch, epochs", [(10, 4, 2), (8, 4, 3), (3, 8, 1), (1, 1, 2)])
def test_event_order_and_metric_dictionaries(count, batch, epochs):
    task, log = run(classifier(batch=batch, epochs=epochs), Recording(count))
    assert task.state is TaskState.COMPLETED and task.error is None
    batches = -(-count // batch)
    expected = [Event.TRAINING_BEGIN]
    for _ in range(epochs):
        expected += [Event.MINI_BATCH_END] * batches + [Event.EPOCH_END]
    expected.append("completion")
    assert [entry[0] for entry in log] == expected
    assert log[0][1] == {}
    minibatch = [m for e, m, *_ in log if e is Event.MINI_BATCH_END]
    assert [m[MetricKey.MINI_BATCH_INDEX] for m in minibatch] == list(range(batches)) * epochs
    assert all(set(m) == {"miniBatchIndex", "lossValue"} for m in minibatch)
    epochs_log = [m for e, m, *_ in log if e is Event.EPOCH_END]
    assert [m["epochIndex"] for m in epochs_log] == list(range(epochs))
    # the default engine reports the last mini-batch's loss as the epoch loss
    for e in range(epochs):
        assert epochs_log[e]["lossValue"] == minibatch[(e + 1) * batches - 1]["lossValue"]
    completion = log[-1]
    assert set(completion[1]) == {"lossValue"}
    assert completion[1]["lossValue"] == epochs_log[-1]["lossValue"]
    assert completion[2] is TaskState.COMPLETED and completion[3] is False


def test_only_subscribed_events_are_delivered():
    _, log = run(classifier(epochs=2), Recording(6), events=Event.EPOCH_END)
    assert [entry[0] for entry in log] == [Event.EPOCH_END, Event.EPOCH_END, "completion"]


def test_padded_last_batch_wraps_around_the_shuffled_order():
    provider = Recording(10)
    run(classifier(batch=4, epochs=2, seed=7), provider)
    order = ShuffleOrder(10, seed=7)
    epoch0 = [order.order[p % 10] for p in range(12)]
    order.reshuffle()  # after epochEnd, which is subscribed
    epoch1 = [order.order[p % 10] for p in range(12)]
    assert provider.calls == epoch0 + epoch1
    assert provider.calls[8:12] == [epoch0[8], epoch0[9], epoch0[0], epoch0[1]]


def test_default_engine_reshuffles_only_when_epoch_end_is_subscribed():
    provider = Recording(10)
    run(classifier(batch=5, epochs=3, seed=3), provider, events=Event.MINI_BATCH_END)
    first = ShuffleOrder(10, seed=3).order
    assert provider.calls == first * 3  # shuffled once, same order every epoch


def test_ml_compute_engine_partial_batch_mean_loss_and_reshuffle():
    provider = Recording(10)
    config = ModelConfiguration(train_with_ml_compute=True)
    _, log = run(
        classifier(batch=4, epochs=2, seed=5),
        provider,
        events=Event.MINI_BATCH_END | Event.EPOCH_END,
        configuration=config,
    )
    order = ShuffleOrder(10, seed=5)
    expected = list(order.order)
    order.reshuffle()
    assert provider.calls == expected + order.order  # 4 + 4 + 2 per epoch, reshuffled
    losses = [m["lossValue"] for e, m, *_ in log if e is Event.MINI_BATCH_END]
    epoch_losses = [m["lossValue"] for e, m, *_ in log if e is Event.EPOCH_END]
    assert epoch_losses[0] == pytest.approx(np.mean(losses[:3]))


def test_shuffle_off_uses_provider_order():
    provider = Recording(5)
    run(classifier(batch=2, epochs=1, shuffle=False), provider)
    assert provider.calls == [0, 1, 2, 3, 4, 0]


def test_overrides_are_validated_at_construction():
    spec = classifier(batch=4, batch_set=[2, 4, 8])
    provider = Recording(4)
    with pytest.raises(ParameterError, match=r"miniBatchSize.*one of \{2, 4, 8\}"):
        UpdateTask(spec, provider, ModelConfiguration({ParameterKey.MINI_BATCH_SIZE: 3}))
    with pytest.raises(ParameterError, match=r"learningRate.*range \[0\.0, 1\.0\]"):
        UpdateTask(spec, provider, ModelConfiguration({"learningRate": 5.0}))
    with pytest.raises(ParameterError, match="numberOfNeighbors"):
        UpdateTask(spec, provider, ModelConfiguration({"numberOfNeighbors": 3}))
    task = UpdateTask(spec, provider, ModelConfiguration({"miniBatchSize": 2, "epochs": 2}))
    assert task.state is TaskState.SUSPENDED


def test_context_parameters_and_learning_rate_annealing_from_a_handler():
    seen = []

    def anneal(context):
        seen.append(context.parameters[ParameterKey.LEARNING_RATE])
        parameters = dict(context.parameters)
        parameters[ParameterKey.LEARNING_RATE] *= 0.5
        parameters[ParameterKey.EPOCHS] = 99  # ignored: only the learning rate is read
        assert context.task.state is TaskState.SUSPENDED
        context.task.resume(parameters)

    task, _ = run(
        classifier(batch=4, epochs=2, lr=0.08),
        Recording(8),
        events=Event.MINI_BATCH_END,
        on_progress=anneal,
    )
    assert task.state is TaskState.COMPLETED
    assert seen == pytest.approx([0.08 * 0.5**i for i in range(4)])


def test_resume_with_a_learning_rate_outside_the_range_fails_the_task():
    def bad(context):
        context.task.resume({ParameterKey.LEARNING_RATE: 3.0})

    task, log = run(classifier(), Recording(4), events=Event.TRAINING_BEGIN, on_progress=bad)
    assert task.state is TaskState.FAILED
    assert "learningRate" in str(task.error)
    assert log[-1][0] == "completion" and log[-1][3] is True


def test_cancel_stops_at_a_boundary_without_completion_and_leaves_the_file(tmp_path):
    path = tmp_path / "m.mlmodel"
    updatable.save(classifier(batch=2, epochs=50), path)
    before = path.read_bytes()
    batches = []

    def progress(context):
        batches.append(context.metrics["miniBatchIndex"])
        if len(batches) == 3:
            context.task.cancel()

    completion = threading.Event()
    task = UpdateTask(
        path,
        Recording(10),
        progress_handlers=UpdateProgressHandlers(
            Event.MINI_BATCH_END, progress, lambda c: completion.set()
        ),
    )
    task.resume()
    assert task.wait() is TaskState.COMPLETED
    assert batches == [0, 1, 2]
    assert not completion.is_set()
    assert path.read_bytes() == before


def test_cancel_before_resume_completes_and_resume_then_does_nothing():
    provider = Recording(4)
    task = UpdateTask(classifier(), provider)
    task.cancel()
    assert task.state is TaskState.COMPLETED
    task.resume()
    assert task.wait() is TaskState.COMPLETED and provider.calls == []


@pytest.mark.parametrize(
    "bad, fragment",
    [
        ({3: None}, "Received nil feature provider for index 3"),
        ({3: {}}, "Unable to get training input 'image' for example index 3"),
        ({3: {"image": np.zeros(4, np.float32)}}, "no target feature"),
        ({3: {"image": np.zeros(5, np.float32), "label": "cat"}}, "example index 3"),
        (
            {3: {"image": np.zeros(4, np.float32), "label": "cow"}},
            "example index 3: label 'cow' is not one of the classifier's labels",
        ),
    ],
)
def test_bad_examples_fail_the_task_naming_the_index(bad, fragment):
    task, log = run(classifier(batch=8, shuffle=False), Recording(8, bad=bad))
    assert task.state is TaskState.FAILED
    assert fragment in str(task.error)
    assert log[-1][0] == "completion" and log[-1][1] == {} and log[-1][3] is True


def test_provider_that_raises_fails_the_task():
    class Exploding(Recording):
        def features(self, index):
            if index == 2:
                raise OSError("disk on fire")
            return super().features(index)

    task, _ = run(classifier(shuffle=False), Exploding(6))
    assert task.state is TaskState.FAILED
    assert "Error in getting feature at index 2" in str(task.error)
    assert "disk on fire" in str(task.error)


def test_non_finite_loss_fails_the_task():
    provider = Recording(4)
    provider.x[2] = np.nan
    task, log = run(classifier(batch=4, shuffle=False), provider)
    assert task.state is TaskState.FAILED
    assert "the loss became nan at epoch 0, mini-batch 0 (examples [0, 1, 2, 3])" in str(task.error)
    assert [entry[0] for entry in log] == [Event.TRAINING_BEGIN, "completion"]


def test_invalid_or_non_updatable_model_raises_at_construction():
    with pytest.raises(ValidationError):
        spec = classifier()
        spec.specificationVersion = 3
        UpdateTask(spec, Recording(2))
    spec = builders.classifier_nn()
    with pytest.raises(Exception, match="not updatable"):
        UpdateTask(spec, Recording(2))


def test_context_model_is_valid_only_inside_the_handler(tmp_path):
    kept = []

    def progress(context):
        kept.append(context.model)
        weights = context.model.parameter_value(ParameterKey.WEIGHTS.scoped("dense2"))
        weights[:] = 0  # a copy: the model is unaffected
        again = context.model.parameter_value(ParameterKey.WEIGHTS.scoped("dense2"))
        assert np.abs(again).sum() > 0
        context.model.write(tmp_path / "epoch.mlmodel")

    task, _ = run(classifier(), Recording(6), events=Event.EPOCH_END, on_progress=progress)
    assert task.state is TaskState.COMPLETED
    with pytest.raises(ModelInvalidatedError, match="no longer valid outside update callback"):
        kept[0].write(tmp_path / "late.mlmodel")
    assert not (tmp_path / "late.mlmodel").exists()
    assert (tmp_path / "epoch.mlmodel").exists()


def test_write_back_round_trip_gives_the_trained_predictions(tmp_path):
    spec = classifier(epochs=5, lr=0.2)
    provider = Recording(12)
    out = tmp_path / "updated.mlmodel"
    results = {}

    def completion(context):
        context.model.write(out)
        results["predictions"] = context.model.predict_batch([{"image": x} for x in provider.x])
        results["weights"] = context.model.parameter_value(ParameterKey.WEIGHTS.scoped("dense1"))

    task = UpdateTask(spec, provider, completion_handler=completion)
    task.resume()
    task.wait()
    from runtime.model.mlmodel import Model

    written = updatable.load(out)
    reloaded = Model.load(out).predict_batch([{"image": x} for x in provider.x])
    for a, b in zip(reloaded, results["predictions"], strict=True):
        assert a["label"] == b["label"]
        assert a["probs"] == pytest.approx(b["probs"], rel=1e-6)
    before = Model.load(spec).predict_batch([{"image": x} for x in provider.x])
    assert [p["probs"] for p in before] != [p["probs"] for p in reloaded]
    dense1 = written.neuralNetworkClassifier.layers[0].innerProduct
    np.testing.assert_array_equal(np.asarray(dense1.weights.floatValue), results["weights"].ravel())
    # everything but the trained weights is unchanged
    for layer_before, layer_after in zip(
        spec.neuralNetworkClassifier.layers, written.neuralNetworkClassifier.layers, strict=True
    ):
        if layer_before.name not in ("dense1", "dense2"):
            assert layer_before == layer_after
        else:
            assert layer_after.isUpdatable and layer_after.innerProduct.weights.isUpdatable
    assert written.description == spec.description
    assert written.neuralNetworkClassifier.updateParams == spec.neuralNetworkClassifier.updateParams


def test_array_batch_provider_columns_and_rows_are_equivalent():
    provider = Recording(6)
    columns = ArrayBatchProvider({"image": provider.x, "label": provider.y})
    rows = ArrayBatchProvider(
        [{"image": x, "label": y} for x, y in zip(provider.x, provider.y, strict=True)]
    )
    _, log_a = run(classifier(seed=1), columns)
    _, log_b = run(classifier(seed=1), rows)
    assert log_a == log_b


def test_a_completion_handler_that_raises_fails_the_task_without_killing_the_thread():
    def completion(context):
        raise RuntimeError("app bug")

    task = UpdateTask(classifier(), Recording(4), completion_handler=completion)
    task.resume()
    assert task.wait() is TaskState.FAILED
    assert "completion handler raised RuntimeError: app bug" in str(task.error)


def test_a_finished_task_frees_its_network_without_waiting_for_the_cyclic_collector():
    import gc
    import weakref

    task = UpdateTask(classifier(), Recording(6))
    task.resume()
    task.wait()
    backend = weakref.ref(task._update.backend)
    network = weakref.ref(task._update.network_engine.network)
    gc.disable()  # reference cycles would keep the arrays alive until a collection
    try:
        del task
        assert backend() is None and network() is None
    finally:
        gc.enable()
