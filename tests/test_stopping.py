"""Stopping criteria: each rule alone (pure state in, state out) and inside a job."""

from __future__ import annotations

import pytest

import runtime
from runtime.jobs.progress import Metric, Phase, Progress
from runtime.jobs.stopping import (
    EarlyStopping,
    MaxIterations,
    Predicate,
    TargetAccuracy,
    TargetLoss,
    TimeBudget,
    as_criteria,
)
from runtime.training.providers import ArrayBatchProvider
from tests.test_session_fixtures import (
    assert_same_weights,
    digits,
    mnist_model,
    provider,
    run,
    session,
    training_reports,
)
from updatable.errors import ParameterError


def _progress(iteration, elapsed=0.0, **metrics):
    return Progress(
        Phase.TRAINING, iteration, 100, elapsed, {Metric(k): v for k, v in metrics.items()}
    )


def _feed(criterion, values, metric):
    """Observe ``values`` of ``metric`` at iterations 1, 2, ...; returns the stop flags."""
    state, flags = criterion.initial_state(), []
    for iteration, value in enumerate(values, start=1):
        state, stop = criterion.observe(state, _progress(iteration, **{metric: value}))
        flags.append(stop)
    return state, flags


def test_max_iterations():
    criterion = MaxIterations(3)
    assert [criterion.observe({}, _progress(i))[1] for i in (1, 2, 3, 4)] == [
        False,
        False,
        True,
        True,
    ]
    with pytest.raises(ParameterError, match="positive integer; got 0"):
        MaxIterations(0)


def test_targets_reach_from_the_right_side():
    accuracy = TargetAccuracy(0.8)
    assert _feed(accuracy, [0.5, 0.79, 0.8], "validationAccuracy")[1] == [False, False, True]
    loss = TargetLoss(0.5)
    assert _feed(loss, [0.9, 0.51, 0.5], "validationLoss")[1] == [False, False, True]
    training = TargetLoss(1.0, metric="loss")
    assert _feed(training, [2.0, 0.9], "loss")[1] == [False, True]
    with pytest.raises(ParameterError, match=r"fraction in \[0, 1\]; got 80"):
        TargetAccuracy(80)
    with pytest.raises(ParameterError, match="unknown metric 'accuracyy'"):
        TargetLoss(0.1, metric="accuracyy")
    with pytest.raises(ParameterError, match="TargetLoss cannot watch 'validationAccuracy'"):
        TargetLoss(0.1, metric="validationAccuracy")


def test_time_budget():
    budget = TimeBudget(2.0)
    assert not budget.observe({}, _progress(1, elapsed=1.9))[1]
    assert budget.observe({}, _progress(2, elapsed=2.0))[1]
    with pytest.raises(ParameterError, match="positive number of seconds"):
        TimeBudget(0)


def test_early_stopping_patience_and_min_delta():
    rule = EarlyStopping(patience=2, min_delta=0.1, metric="validationLoss")
    # 1.0 best; 0.95 is not better by more than 0.1; 0.85 is; then two without improvement
    state, flags = _feed(rule, [1.0, 0.95, 0.85, 0.8, 0.9], "validationLoss")
    assert flags == [False, False, False, False, True]
    assert state == {"best": 0.85, "best_iteration": 3, "waited": 2}
    rising = EarlyStopping(patience=1, metric="validationAccuracy")
    state, flags = _feed(rising, [0.5, 0.6, 0.6], "validationAccuracy")
    assert flags == [False, False, True] and state["best_iteration"] == 2
    with pytest.raises(ParameterError, match="patience must be a positive integer"):
        EarlyStopping(patience=0)


def test_predicates_and_plain_callables():
    def low_loss(progress):
        return progress.metrics["loss"] < 1

    criteria = as_criteria([low_loss, MaxIterations(5)])
    assert isinstance(criteria[0], Predicate) and criteria[0].name == "low_loss"
    assert _feed(criteria[0], [2.0, 0.5], "loss")[1] == [False, True]
    with pytest.raises(ParameterError, match="stop_when entries must be"):
        as_criteria([3])


def _validation():
    x, labels = digits(16, seed=4)
    return ArrayBatchProvider({"image": x, "digit": labels})


def _stops(criteria, iterations=12, validation=None, tmp=None):
    params = (
        session(tmp, iterations=iterations)
        if tmp
        else runtime.TrainingSessionParameters(report_interval=1, iterations=iterations)
    )
    return run(mnist_model(), provider(), validation, params, stop_when=criteria)


def test_each_rule_stops_a_job_and_is_named():
    result, events = _stops([MaxIterations(3)])
    assert (result.iteration, result.stopped_by) == (3, "maxIterations")
    assert isinstance(result.criterion, MaxIterations)

    _, events = _stops([], iterations=6, validation=_validation())
    losses = [p.metrics["validationLoss"] for p in training_reports(events)]
    target = sorted(losses)[1]  # the second lowest: reached before the end
    first = next(i for i, loss in enumerate(losses, start=1) if loss <= target)
    result, _ = _stops([TargetLoss(target)], validation=_validation())
    assert (result.iteration, result.stopped_by) == (first, "targetLoss")

    accuracies = [p.metrics["validationAccuracy"] for p in training_reports(events)]
    goal = max(accuracies)
    first = accuracies.index(goal) + 1
    result, _ = _stops([TargetAccuracy(goal)], validation=_validation())
    assert (result.iteration, result.stopped_by) == (first, "targetAccuracy")
    assert result.metrics["validationAccuracy"] >= goal

    result, _ = _stops([TimeBudget(1e-9)])
    assert (result.iteration, result.stopped_by) == (1, "timeBudget")

    result, _ = _stops([lambda progress: progress.item_count == 2])
    assert (result.iteration, result.stopped_by) == (2, "<lambda>")


def test_early_stopping_restores_the_best_iteration(tmp_path):
    # min_delta larger than any change: iteration 1 stays the best, the job stops at 1 + 3
    rule = EarlyStopping(patience=3, min_delta=100.0, metric="loss")
    result, events = _stops([rule], tmp=tmp_path)
    assert (result.iteration, result.stopped_by, result.best_iteration) == (4, "earlyStopping", 1)
    assert result.metrics == training_reports(events)[0].metrics  # iteration 1's metrics
    one, _ = run(mnist_model(), provider(), params=runtime.TrainingSessionParameters(iterations=1))
    assert_same_weights(result.spec, one.spec)
    assert result.checkpoint.iteration == 1
    assert_same_weights(runtime.model_from_checkpoint(result.checkpoint), one.spec)
    on_disk = runtime.restore_training_session(session(tmp_path)).checkpoints
    assert [c.iteration for c in on_disk] == [1, 3, 4]  # best, cadence, where it stopped

    kept = EarlyStopping(patience=3, min_delta=100.0, metric="loss", restore_best=False)
    result, _ = _stops([kept])
    four, _ = run(mnist_model(), provider(), params=runtime.TrainingSessionParameters(iterations=4))
    assert_same_weights(result.spec, four.spec)


def test_a_resumed_session_stops_where_the_uninterrupted_one_did(tmp_path):
    rule = EarlyStopping(patience=3, min_delta=100.0, metric="loss")
    straight, _ = _stops([rule], tmp=tmp_path / "straight")
    holder = {}

    def cancel_at_two(progress):
        if progress.phase == "training" and progress.item_count == 2:
            holder["job"].cancel()

    holder["job"] = runtime.train(
        mnist_model(),
        provider(),
        stop_when=[rule],
        session_parameters=session(tmp_path / "s", iterations=12),
        on_progress=cancel_at_two,
    )
    assert holder["job"].wait().iteration == 2
    restored = runtime.restore_training_session(session(tmp_path / "s", iterations=12))
    resumed = runtime.resume(restored, provider(), stop_when=[rule]).wait()
    assert (resumed.iteration, resumed.best_iteration) == (4, 1)
    assert_same_weights(resumed.spec, straight.spec)


def test_criteria_on_metrics_the_job_does_not_report_are_refused():
    with pytest.raises(ParameterError, match="needs the metric 'validationLoss'"):
        runtime.train(mnist_model(), provider(), stop_when=[EarlyStopping()])
    with pytest.raises(ParameterError, match="needs the metric 'validationAccuracy'"):
        runtime.train(mnist_model(), provider(), stop_when=[TargetAccuracy(0.5)])
