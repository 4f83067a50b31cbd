"""Training jobs: cadence of reports and checkpoints, limits, phases, events, metrics, errors."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import runtime
import updatable
from runtime.model.configuration import ModelConfiguration, ParameterKey
from runtime.training.providers import ArrayBatchProvider
from runtime.training.task import Event, UpdateProgressHandlers, UpdateTask
from tests import builders
from tests.test_session_fixtures import (
    TRAINED,
    assert_same_weights,
    digits,
    mnist_model,
    provider,
    run,
    session,
    training_reports,
)
from updatable.errors import ParameterError, SessionMismatchError, UnsupportedModelError


def test_reports_every_report_interval_iterations(tmp_path):
    result, events = run(
        mnist_model(),
        provider(),
        params=session(tmp_path, report_interval=2, checkpoint_interval=100, iterations=7),
    )
    reports = training_reports(events)
    assert [p.item_count for p in reports] == [2, 4, 6]
    assert all(p.total_item_count == 7 for p in reports)
    assert [p.elapsed_time for p in reports] == sorted(p.elapsed_time for p in reports)
    assert result.iteration == 7 and result.stopped_by == "iterations"


def test_checkpoints_every_interval_and_at_the_end(tmp_path):
    result, events = run(
        mnist_model(), provider(), params=session(tmp_path, checkpoint_interval=3, iterations=7)
    )
    written = [e.iteration for e in events if isinstance(e, runtime.Checkpoint)]
    assert written == [3, 6, 7]  # 7: the job ended between two intervals
    on_disk = runtime.restore_training_session(session(tmp_path)).checkpoints
    assert [c.iteration for c in on_disk] == [3, 6, 7]
    assert all(c.phase == "training" for c in on_disk)
    assert result.checkpoint.iteration == 7
    assert on_disk[-1].metrics == pytest.approx({str(k): v for k, v in result.metrics.items()})

    other = tmp_path / "exact"
    _, events = run(
        mnist_model(), provider(), params=session(other, checkpoint_interval=3, iterations=6)
    )
    assert [e.iteration for e in events if isinstance(e, runtime.Checkpoint)] == [3, 6]


def test_iterations_is_the_maximum_also_for_a_resumed_session(tmp_path):
    data = provider()
    first, _ = run(mnist_model(), data, params=session(tmp_path, iterations=4))
    assert first.iteration == 4
    again = runtime.resume(
        runtime.restore_training_session(session(tmp_path, iterations=4)), data
    ).wait()
    assert again.iteration == 4 and again.stopped_by == "iterations"
    assert_same_weights(again.spec, first.spec)  # nothing more was trained
    longer = runtime.resume(
        runtime.restore_training_session(session(tmp_path, iterations=6)), data
    ).wait()
    assert longer.iteration == 6
    straight, _ = run(mnist_model(), data, params=session(tmp_path / "straight", iterations=6))
    assert_same_weights(longer.spec, straight.spec)


def test_a_job_trains_exactly_like_an_update_task_that_reshuffles_every_epoch():
    """Same loop, same Core ML batching and shuffle order: the job's weights after N
    iterations are an update task's after N epochs (subscribed to epochEnd)."""
    spec, data = mnist_model(), provider()
    updatable.set_epochs(spec, 4)
    final = {}

    def completion(context):
        final.update(
            {
                layer: context.model.parameter_value(ParameterKey.WEIGHTS.scoped(layer))
                for layer in TRAINED
            }
        )

    task = UpdateTask(
        spec,
        data,
        progress_handlers=UpdateProgressHandlers(Event.EPOCH_END, lambda context: None, completion),
    )
    task.resume()
    task.wait()
    result, _ = run(
        spec, data, params=runtime.TrainingSessionParameters(iterations=4), feature_cache=False
    )
    layers = {layer.name: layer for layer in result.spec.neuralNetworkClassifier.layers}
    for layer in TRAINED:
        trained = np.asarray(layers[layer].innerProduct.weights.floatValue, np.float32)
        if result.per_example_features:  # a BLAS whose rows depend on the batch size
            np.testing.assert_allclose(trained, final[layer].ravel(), rtol=1e-5, atol=1e-7)
        else:
            np.testing.assert_array_equal(trained, final[layer].ravel(), err_msg=layer)


def test_phases_in_create_ml_order(tmp_path):
    _, events = run(mnist_model(), provider(), params=session(tmp_path))
    phases = [e for e in events if isinstance(e, runtime.Phase)]
    assert phases == ["initialized", "extractingFeatures", "training"]
    extracting = [
        e for e in events if isinstance(e, runtime.Progress) and e.phase == "extractingFeatures"
    ]
    assert [p.item_count for p in extracting] == [8, 16, 24, 32, 36]  # 36 examples, batch 8
    assert all(p.total_item_count == 36 for p in extracting)

    _, events = run(
        mnist_model(), provider(), params=session(tmp_path / "plain"), feature_cache=False
    )
    assert [e for e in events if isinstance(e, runtime.Phase)] == ["initialized", "training"]


def test_callbacks_see_the_events_the_iterator_yields(tmp_path):
    seen = []
    job = runtime.train(
        mnist_model(),
        provider(),
        session_parameters=session(tmp_path),
        on_progress=seen.append,
        on_checkpoint=seen.append,
        on_phase=seen.append,
    )
    events = list(job)
    assert seen == events[:-1]
    assert isinstance(events[-1], runtime.JobResult) and job.wait() is events[-1]
    assert job.phase == "training" and job.progress == training_reports(events)[-1]
    assert [c.iteration for c in job.checkpoints] == [3, 6]


def test_validation_metrics_match_the_trained_model(tmp_path):
    xv, labels = digits(20, seed=5)
    validation = ArrayBatchProvider({"image": xv, "digit": labels})
    result, events = run(mnist_model(), provider(), validation, params=session(tmp_path))
    final = training_reports(events)[-1].metrics
    assert set(final) == {"loss", "lossGrowth", "validationLoss", "validationAccuracy"}
    outputs = result.model.predict_batch({"image": xv})
    probabilities = np.array(
        [[o["digitProbabilities"][str(k)] for k in range(10)] for o in outputs]
    )
    targets = np.array([int(v) for v in labels])
    loss = -np.mean(np.log(probabilities[np.arange(20), targets]))
    accuracy = np.mean(probabilities.argmax(axis=1) == targets)
    assert final["validationLoss"] == pytest.approx(loss, rel=1e-5)
    assert final["validationAccuracy"] == accuracy
    assert result.metrics == final


def test_training_loss_is_the_mean_of_the_epochs_batch_losses():
    spec, data = mnist_model(), provider()
    updatable.set_epochs(spec, 2)
    batch_losses = []
    task = UpdateTask(
        spec,
        data,
        progress_handlers=UpdateProgressHandlers(
            Event.EPOCH_END | Event.MINI_BATCH_END,
            lambda c: (
                batch_losses.append(c.metrics.get("lossValue"))
                if c.event == Event.MINI_BATCH_END
                else None
            ),
            lambda c: None,
        ),
    )
    task.resume()
    task.wait()
    _, events = run(
        spec,
        data,
        params=runtime.TrainingSessionParameters(report_interval=1, iterations=2),
        feature_cache=False,
    )
    reports = training_reports(events)
    batches = 5  # ceil(36 / 8)
    for epoch, report in enumerate(reports):
        expected = np.mean(batch_losses[epoch * batches : (epoch + 1) * batches])
        assert report.metrics["loss"] == pytest.approx(expected, rel=1e-12)


def test_mse_model_reports_validation_loss_only():
    spec = builders.make_trainable(
        builders.regressor_nn(), ["fc2"], mse_output=("y", (2,)), batch=4
    )
    names = [f.name for f in spec.description.trainingInput]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((12, 4)).astype(np.float32)
    data = ArrayBatchProvider({names[0]: x, names[1]: x[:, :2].copy()})
    _, events = run(
        spec, data, data, params=runtime.TrainingSessionParameters(report_interval=1, iterations=2)
    )
    assert set(training_reports(events)[-1].metrics) == {"loss", "lossGrowth", "validationLoss"}
    with pytest.raises(ParameterError, match="validationAccuracy"):
        runtime.train(spec, data, data, stop_when=[runtime.TargetAccuracy(0.9)])


def test_a_pipeline_ending_in_a_network_trains_with_its_first_model_cached():
    spec = _nn_head_pipeline()
    rng = np.random.default_rng(3)
    x = rng.standard_normal((20, 4)).astype(np.float32)
    data = ArrayBatchProvider({"input": x, "label": ["cat" if v > 0 else "dog" for v in x[:, 0]]})
    params = runtime.TrainingSessionParameters(iterations=3)
    cached, events = run(spec, data, params=params)
    plain, _ = run(spec, data, params=params, feature_cache=False)
    assert cached.cache.misses == 20 and cached.cache.hits > 0
    assert "extractingFeatures" in [e for e in events if isinstance(e, runtime.Phase)]
    head = cached.spec.pipelineClassifier.pipeline.models[1].neuralNetworkClassifier.layers[0]
    other = plain.spec.pipelineClassifier.pipeline.models[1].neuralNetworkClassifier.layers[0]
    assert list(head.innerProduct.weights.floatValue) == list(other.innerProduct.weights.floatValue)
    assert cached.model.predict({"input": x[0]})["label"] in ("cat", "dog")


def _nn_head_pipeline():
    from copy import deepcopy

    from updatable.spec import pipeline_models

    extractor, head = pipeline_models(builders.nn_head_pipeline())
    head = deepcopy(head)
    updatable.make_updatable(head, ["dense"])
    updatable.set_loss(head, "cross_entropy")
    updatable.set_optimizer(head, "sgd", learning_rate=0.1, mini_batch_size=4)
    updatable.set_epochs(head, 5)
    updatable.set_shuffle(head, True, seed=3)
    return updatable.make_pipeline(extractor, head)


def test_knn_models_are_refused_with_the_alternative():
    with pytest.raises(UnsupportedModelError, match="UpdateTask"):
        runtime.train(builders.empty_knn(), provider())


def test_overrides_are_checked_like_an_update_task():
    config = ModelConfiguration(parameters={ParameterKey.LEARNING_RATE: -1.0})
    spec = mnist_model()
    spec.neuralNetworkClassifier.updateParams.optimizer.sgdOptimizer.learningRate.range.minValue = 0
    spec.neuralNetworkClassifier.updateParams.optimizer.sgdOptimizer.learningRate.range.maxValue = 1
    with pytest.raises(ParameterError, match="learningRate"):
        runtime.train(spec, provider(), configuration=config)


def test_session_parameters_are_checked():
    with pytest.raises(ParameterError, match="report_interval must be a positive integer"):
        runtime.TrainingSessionParameters(report_interval=0)
    with pytest.raises(ParameterError, match="iterations"):
        runtime.TrainingSessionParameters(iterations=2.5)


def test_a_directory_with_a_session_is_not_started_over(tmp_path):
    run(mnist_model(), provider(), params=session(tmp_path, iterations=3))
    with pytest.raises(SessionMismatchError, match="already holds a training session"):
        runtime.train(mnist_model(), provider(), session_parameters=session(tmp_path))


def test_a_failing_callback_fails_the_job_and_keeps_completed_epochs(tmp_path):
    def explode(progress):
        if progress.item_count == 2:
            raise RuntimeError("handler broke")

    job = runtime.train(
        mnist_model(),
        provider(),
        session_parameters=session(tmp_path, checkpoint_interval=10),
        on_progress=explode,
    )
    with pytest.raises(RuntimeError, match="handler broke"):
        job.wait()
    assert isinstance(job.error, RuntimeError)
    with pytest.raises(RuntimeError, match="handler broke"):
        list(job)  # the iterator raises it too, after the events before the failure
    restored = runtime.restore_training_session(session(tmp_path))
    assert [c.iteration for c in restored.checkpoints] == [2]


def test_cancel_keeps_the_last_completed_epoch(tmp_path):
    gate = threading.Event()

    def pause_after_two(progress):
        if progress.phase == "training" and progress.item_count == 2:
            job.cancel()
            gate.set()

    job = runtime.train(
        mnist_model(),
        provider(),
        session_parameters=session(tmp_path, checkpoint_interval=10, iterations=6),
        on_progress=pause_after_two,
    )
    result = job.wait()
    assert gate.is_set() and job.is_cancelled
    assert result.stopped_by == "cancelled" and result.iteration == 2
    assert [c.iteration for c in job.checkpoints] == [2]
    two, _ = run(mnist_model(), provider(), params=session(tmp_path / "two", iterations=2))
    assert_same_weights(result.spec, two.spec)
