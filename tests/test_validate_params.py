"""Core ML's parameter validators and rules C8-C16 (docs/mlmodel-format.md §2.3 C, §2.5)."""

from __future__ import annotations

import math

import pytest

from tests import builders
from tests.issue_checks import expect_issue
from updatable import proto
from updatable.validation import core_ml_issue
from updatable.validation.hyperparameters import double_parameter_problem, int64_parameter_problem


def int64(default, values=None, low=None, high=None):
    parameter = proto.Int64Parameter(defaultValue=default)
    if values is not None:
        parameter.set.SetInParent()  # an empty set is still "present"
        parameter.set.values.extend(values)
    if low is not None:
        parameter.range.minValue, parameter.range.maxValue = low, high
    return parameter


def double(default, low=None, high=None):
    parameter = proto.DoubleParameter(defaultValue=default)
    if low is not None:
        parameter.range.minValue, parameter.range.maxValue = low, high
    return parameter


@pytest.mark.parametrize(
    ("parameter", "positive", "expected"),
    [
        # the scan stops at the default: what follows it is never checked
        (int64(4, [4, 0]), True, None),
        (
            int64(4, [0, 4]),
            True,
            "Non-positive value (0) in Allowed Values Set for 'p' is not allowed.",
        ),
        (
            int64(4, [-1, 4]),
            True,
            "Non-positive value (-1) in Allowed Values Set for 'p' is not allowed.",
        ),
        (int64(4, [1, 4]), True, None),
        (int64(4, []), True, "Specified Default Value (4) not found in Allowed Values Set for 'p'"),
        (
            int64(3, [10]),
            True,
            "Specified Default Value (3) not found in Allowed Values Set for 'p'",
        ),
        (int64(0), True, "Default Value (0) for 'p' expected to be a positive value."),
        (int64(-1, [-1]), True, "Default Value (-1) for 'p' expected to be a positive value."),
        (
            int64(5, low=0, high=10),
            True,
            "Non-positive min value (0) in Allowed Value Range for 'p' is not allowed.",
        ),
        (
            int64(5, low=-1, high=10),
            True,
            "Non-positive min value (-1) in Allowed Value Range for 'p' is not allowed.",
        ),
        (
            int64(5, low=2, high=-1),
            True,
            "Non-positive max value (-1) in Allowed Value Range for 'p' is not allowed.",
        ),
        (
            int64(2000, low=1, high=1000),
            True,
            "Specified Default Value (2000) out of Allowed Value Range for 'p'",
        ),
        # min > max: the default is always out of range first, so that message wins
        (
            int64(5, low=9, high=3),
            True,
            "Specified Default Value (5) out of Allowed Value Range for 'p'",
        ),
        (int64(1, low=1, high=1000), True, None),  # bounds are inclusive
        (int64(1000, low=1, high=1000), True, None),
        (int64(12, low=2, high=24), True, None),
        # not required positive (seed): negative values are fine
        (int64(-5), False, None),
        (int64(-5, [-5, 0]), False, None),
        (int64(100, low=0, high=100), False, None),
        (
            int64(7, [3, 5]),
            False,
            "Specified Default Value (7) not found in Allowed Values Set for 'p'",
        ),
    ],
)
def test_int64_parameter_rules(parameter, positive, expected):
    assert int64_parameter_problem("p", parameter, positive) == expected


@pytest.mark.parametrize(
    ("parameter", "expected"),
    [
        (double(5, 0, 1), "Specified Default Value (5.000000) out of Allowed Value Range for 'p'"),
        # %f formatting: 1e-8 prints as 0.000000
        (
            double(1e-8, 0.1, 1),
            "Specified Default Value (0.000000) out of Allowed Value Range for 'p'",
        ),
        (
            double(-0.5, 0, 1),
            "Specified Default Value (-0.500000) out of Allowed Value Range for 'p'",
        ),
        (double(1.0, 0, 1), None),
        (double(0.0, 0, 1), None),
        (double(5), None),  # no range: anything goes, even lr <= 0
        (double(-1), None),
        (double(math.nan, 0, 1), None),  # NaN compares false both ways, as in C++
    ],
)
def test_double_parameter_rules(parameter, expected):
    assert double_parameter_problem("p", parameter) == expected


def sgd(spec):
    return spec.neuralNetwork.updateParams.optimizer.sgdOptimizer


def adam(spec):
    return spec.neuralNetwork.updateParams.optimizer.adamOptimizer


def assert_issue(spec, code, message, where=None):
    expect_issue(spec, code, message, "INVALID_UPDATABLE_MODEL_CONFIGURATION", where)


def test_base_models_are_valid():
    for spec in (
        builders.updatable_nn("cce"),
        builders.updatable_nn("mse"),
        builders.updatable_nn("cce", "adam"),
        builders.updatable_classifier(),
    ):
        assert core_ml_issue(spec) is None


def test_c8_no_optimizer():
    spec = builders.updatable_nn()
    spec.neuralNetwork.updateParams.ClearField("optimizer")
    assert_issue(spec, "C8", "Optimizer is not recognized.", "updateParams.optimizer")


def test_c9_c10_sgd_learning_rate():
    spec = builders.updatable_nn()
    sgd(spec).ClearField("learningRate")
    assert_issue(spec, "C9", "SGD optimizer should include learningRate parameter.")
    sgd(spec).learningRate.defaultValue = 5
    sgd(spec).learningRate.range.maxValue = 1
    assert_issue(
        spec,
        "C10",
        "Specified Default Value (5.000000) out of Allowed Value Range for 'learningRate'",
        "updateParams.optimizer.sgdOptimizer.learningRate",
    )


def test_empty_learning_rate_is_present_and_valid():
    spec = builders.updatable_nn()
    sgd(spec).learningRate.Clear()
    sgd(spec).learningRate.SetInParent()  # `learningRate {}`: default 0.0, no range
    assert core_ml_issue(spec) is None


def test_c11_c12_sgd_mini_batch_size():
    spec = builders.updatable_nn()
    sgd(spec).ClearField("miniBatchSize")
    assert_issue(spec, "C11", "SGD optimizer should include miniBatchSize parameter.")
    sgd(spec).miniBatchSize.defaultValue = 3
    sgd(spec).miniBatchSize.set.values.append(10)
    assert_issue(
        spec,
        "C12",
        "Specified Default Value (3) not found in Allowed Values Set for 'miniBatchSize'",
    )


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("learningRate", "ADAM optimizer should include learningRate parameter."),
        ("miniBatchSize", "ADAM optimizer should include miniBatchSize parameter."),
        ("beta1", "ADAM optimizer should include beta1 parameter."),
        ("beta2", "ADAM optimizer should include beta2 parameter."),
        ("eps", "ADAM optimizer should include eps (epslion) parameter."),
    ],
)
def test_c13_adam_parameters_missing(missing, message):
    spec = builders.updatable_nn("cce", "adam")
    adam(spec).ClearField(missing)
    assert_issue(spec, "C13", message, f"updateParams.optimizer.adamOptimizer.{missing}")


def test_c13_adam_checks_in_order():
    """Port of MissingBeta1/Beta2/Eps: bad until each parameter is added, in Core ML's order."""
    spec = builders.updatable_nn("cce", "adam")
    for field in ("learningRate", "miniBatchSize", "beta1", "beta2", "eps"):
        adam(spec).ClearField(field)
    adam(spec).SetInParent()
    assert "learningRate" in core_ml_issue(spec).message
    for field, value, nxt in (
        ("learningRate", 0.7, "miniBatchSize"),
        ("miniBatchSize", 10, "beta1"),
        ("beta1", 0.7, "beta2"),
        ("beta2", 0.7, "eps (epslion)"),
    ):
        getattr(adam(spec), field).defaultValue = value
        assert core_ml_issue(spec).message == f"ADAM optimizer should include {nxt} parameter."
    adam(spec).eps.defaultValue = 0.7
    assert core_ml_issue(spec) is None


def test_c13_adam_invalid_parameter():
    spec = builders.updatable_nn("cce", "adam")
    adam(spec).beta2.defaultValue = 1.5
    assert_issue(
        spec, "C13", "Specified Default Value (1.500000) out of Allowed Value Range for 'beta2'"
    )


def test_c14_c15_epochs():
    spec = builders.updatable_nn()
    epochs = spec.neuralNetwork.updateParams.epochs
    del epochs.set.values[:]
    epochs.set.values.extend([0, 4])
    epochs.defaultValue = 4
    assert_issue(
        spec, "C15", "Non-positive value (0) in Allowed Values Set for 'epochs' is not allowed."
    )
    del epochs.set.values[:]
    epochs.set.values.extend([4, 0])  # the quirk: never reached
    assert core_ml_issue(spec) is None
    spec.neuralNetwork.updateParams.ClearField("epochs")
    assert_issue(
        spec,
        "C14",
        "Epochs should be included in neural network update parameters.",
        "updateParams.epochs",
    )


def test_c16_seed_may_be_negative_but_must_be_consistent():
    spec = builders.updatable_nn()
    seed = spec.neuralNetwork.updateParams.seed
    seed.defaultValue = -5
    assert core_ml_issue(spec) is None
    seed.defaultValue = 100
    seed.range.minValue, seed.range.maxValue = 0, 100  # ExistingShuffleWithMissingSeed: good
    assert core_ml_issue(spec) is None
    seed.defaultValue = 101
    assert_issue(spec, "C16", "Specified Default Value (101) out of Allowed Value Range for 'seed'")


def test_momentum_and_shuffle_are_never_validated():
    spec = builders.updatable_nn()
    sgd(spec).momentum.defaultValue = 5
    sgd(spec).momentum.range.minValue, sgd(spec).momentum.range.maxValue = 0, 1
    spec.neuralNetwork.updateParams.ClearField("shuffle")
    assert core_ml_issue(spec) is None


def test_missing_parameters_progression():
    """Port of MissingMiniBatchSize / MissingLearningRate / MissingEpochs: CCE model without
    parameters is bad until lr, batch and epochs are all there."""
    spec = builders.add_cce_with_softmax_and_sgd(builders.chained_ip_nn(1, True), "B")
    update = spec.neuralNetwork.updateParams
    saved = proto.NeuralNetwork_pb2.NetworkUpdateParameters()
    saved.CopyFrom(update)
    update.ClearField("optimizer")
    update.ClearField("epochs")
    assert core_ml_issue(spec).code == "C8"
    update.optimizer.sgdOptimizer.learningRate.CopyFrom(saved.optimizer.sgdOptimizer.learningRate)
    assert core_ml_issue(spec).code == "C11"
    update.optimizer.sgdOptimizer.miniBatchSize.CopyFrom(saved.optimizer.sgdOptimizer.miniBatchSize)
    assert core_ml_issue(spec).code == "C14"
    update.epochs.CopyFrom(saved.epochs)
    assert core_ml_issue(spec) is None
