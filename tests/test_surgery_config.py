"""set_optimizer, set_epochs, set_shuffle: defaults, allowed values, and replacing."""

from __future__ import annotations

import contextlib
import io

import pytest
from coremltools.models.neural_network import NeuralNetworkBuilder
from coremltools.models.neural_network.update_optimizer_utils import AdamParams, SgdParams

import updatable
from tests import builders
from updatable import DoubleParam, IntParam, proto
from updatable.edit.training_config import PLAIN_RANGES
from updatable.errors import ParameterError, UnsupportedModelError


def copy(spec):
    duplicate = proto.Model()
    duplicate.CopyFrom(spec)
    return duplicate


def prepared(loss="cross_entropy"):
    """The §6.1 base model, both layers updatable, with its loss (no optimizer yet)."""
    spec = builders.chain_nn(softmax=loss == "cross_entropy")
    updatable.make_updatable(spec, ["ip1", "ip2"])
    updatable.set_loss(spec, loss)
    return spec


def reloaded(spec, tmp_path):
    path = tmp_path / "m.mlmodel"
    updatable.save(spec, path)
    return updatable.load(path)


def core_ml_errors(spec):
    return [issue for issue in updatable.validate(spec) if issue.result_type]


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_sgd_and_epochs_scenario_survives_save_and_load(loss, tmp_path):
    """Ports of test_updatable_model_creation_ce_sgd and _mse_sgd."""
    spec = prepared(loss)
    updatable.set_optimizer(spec, "sgd", learning_rate=1e-2, mini_batch_size=10, momentum=0)
    updatable.set_epochs(spec, IntParam(20, choices=(10, 20, 30, 40)))
    update = reloaded(spec, tmp_path).neuralNetwork.updateParams
    sgd = update.optimizer.sgdOptimizer
    assert sgd.learningRate.defaultValue == pytest.approx(1e-2)
    lr_range = (sgd.learningRate.range.minValue, sgd.learningRate.range.maxValue)
    assert lr_range == (1e-6, 1)
    assert sgd.miniBatchSize.defaultValue == 10 and list(sgd.miniBatchSize.set.values) == [10]
    assert sgd.momentum.defaultValue == 0
    assert (sgd.momentum.range.minValue, sgd.momentum.range.maxValue) == (0, 0.999)
    assert update.epochs.defaultValue == 20 and list(update.epochs.set.values) == [10, 20, 30, 40]
    assert core_ml_errors(spec) == []


@pytest.mark.parametrize("loss, epochs", [("cross_entropy", (20,)), ("mse", (10, 20, 30))])
def test_adam_scenarios(loss, epochs, tmp_path):
    """Ports of test_updatable_model_creation_ce_adam and _mse_adam."""
    spec = prepared(loss)
    updatable.set_optimizer(spec, "adam", mini_batch_size=IntParam(10, choices=(10, 20)))
    updatable.set_epochs(spec, IntParam(20 if len(epochs) == 1 else 10, choices=epochs))
    update = reloaded(spec, tmp_path).neuralNetwork.updateParams
    adam = update.optimizer.adamOptimizer
    assert list(adam.miniBatchSize.set.values) == [10, 20]
    for field, default in (("learningRate", 1e-2), ("beta1", 0.9), ("beta2", 0.999), ("eps", 1e-8)):
        parameter = getattr(adam, field)
        assert parameter.defaultValue == pytest.approx(default)
        assert (parameter.range.minValue, parameter.range.maxValue) == PLAIN_RANGES[field]
    assert list(update.epochs.set.values) == list(epochs)
    loss_kind = update.lossLayers[0].WhichOneof("LossLayerType")
    assert (
        loss_kind
        == {
            "cross_entropy": "categoricalCrossEntropyLossLayer",
            "mse": "meanSquaredErrorLossLayer",
        }[loss]
    )
    assert core_ml_errors(spec) == []


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_default_optimizers_are_coremltools_defaults_in_lint_clean_ranges(optimizer):
    """coremltools' default values; its [0, 1] ranges trip our lint (X5), ours do not."""
    spec = prepared()
    builder = NeuralNetworkBuilder(spec=copy(spec))
    defaults = NeuralNetworkBuilder(spec=copy(spec))
    if optimizer == "sgd":
        params = SgdParams()
        params.set_lr(0.01, *PLAIN_RANGES["learningRate"])
        params.set_momentum(0.0, *PLAIN_RANGES["momentum"])
        builder.set_sgd_optimizer(params)
        defaults.set_sgd_optimizer(SgdParams())
    else:
        params = AdamParams()
        params.set_lr(0.01, *PLAIN_RANGES["learningRate"])
        for name, value in (("beta1", 0.9), ("beta2", 0.999), ("eps", 1e-8)):
            getattr(params, f"set_{name}")(value, *PLAIN_RANGES[name])
        builder.set_adam_optimizer(params)
        defaults.set_adam_optimizer(AdamParams())
    updatable.set_optimizer(spec, optimizer)
    updatable.set_epochs(spec, 3)
    optimizer = builder.spec.neuralNetwork.updateParams.optimizer
    assert spec.neuralNetwork.updateParams.optimizer == optimizer
    assert updatable.validate(spec) == []
    defaults.set_epochs(3)
    assert {issue.code for issue in updatable.validate(defaults.spec)} == {"X5"}


def test_custom_constraints_equal_coremltools_where_it_is_right():
    spec = prepared()
    builder = NeuralNetworkBuilder(spec=copy(spec))
    params = AdamParams(lr=0.001, batch=16, beta1=0.8, beta2=0.99, eps=1e-7)
    params.set_lr(0.001, 0.0001, 0.1)
    params.set_batch(16, [8, 16, 32])
    builder.set_adam_optimizer(params)
    updatable.set_optimizer(
        spec,
        "adam",
        learning_rate=DoubleParam(0.001, range=(0.0001, 0.1)),
        mini_batch_size=IntParam(16, choices=[8, 16, 32]),
        beta1=DoubleParam(0.8, range=(0, 1)),
        beta2=DoubleParam(0.99, range=(0, 1)),
        eps=DoubleParam(1e-7, range=(0, 1)),
    )
    assert spec == builder.spec


def test_setters_replace_instead_of_accumulating():
    """coremltools extends the epoch and batch sets on every call (§5.5 bug 3)."""
    builder = NeuralNetworkBuilder(spec=prepared())
    builder.set_epochs(10, [5, 10])
    builder.set_epochs(20, [20, 40])
    assert list(builder.nn_spec.updateParams.epochs.set.values) == [5, 10, 20, 40]
    builder.set_sgd_optimizer(SgdParams(batch=8))
    builder.set_sgd_optimizer(SgdParams(batch=8))
    assert list(builder.nn_spec.updateParams.optimizer.sgdOptimizer.miniBatchSize.set.values) == [
        8,
        8,
    ]

    spec = prepared()
    updatable.set_epochs(spec, IntParam(10, choices=(5, 10)))
    updatable.set_epochs(spec, IntParam(20, choices=(20, 40)))
    updatable.set_optimizer(spec, "sgd", mini_batch_size=8)
    updatable.set_optimizer(spec, "sgd", mini_batch_size=8)
    update = spec.neuralNetwork.updateParams
    assert list(update.epochs.set.values) == [20, 40]
    assert list(update.optimizer.sgdOptimizer.miniBatchSize.set.values) == [8]
    updatable.set_optimizer(spec, "adam")
    assert update.optimizer.WhichOneof("OptimizerType") == "adamOptimizer"
    assert not update.optimizer.HasField("sgdOptimizer")


@pytest.mark.parametrize(
    "call, fragment",
    [
        (
            lambda s: updatable.set_optimizer(s, "sgd", learning_rate=5),
            "'learningRate' = 5 lies outside the default allowed range [1e-06, 1]",
        ),
        (
            lambda s: updatable.set_optimizer(s, "sgd", mini_batch_size=0),
            "'miniBatchSize' must be a positive integer",
        ),
        (
            lambda s: updatable.set_optimizer(s, "sgd", mini_batch_size=IntParam(4, range=(-1, 8))),
            "'miniBatchSize': the range minimum must be positive",
        ),
        (
            lambda s: updatable.set_optimizer(s, "adam", momentum=0.9),
            "['momentum'] do not apply to the adam optimizer; it takes ['learning_rate', "
            "'mini_batch_size', 'beta1', 'beta2', 'eps']",
        ),
        (lambda s: updatable.set_optimizer(s, "sgd", beta1=0.9, eps=1e-8), "['beta1', 'eps']"),
        (
            lambda s: updatable.set_optimizer(s, "rmsprop"),
            "unknown optimizer 'rmsprop'; choose one of ['sgd', 'adam']",
        ),
        (
            lambda s: updatable.set_optimizer(s, "sgd", learning_rate=IntParam(1)),
            "floating-point parameter",
        ),
        (
            lambda s: updatable.set_epochs(s, 0),
            "'epochs' must be a positive integer (Core ML requires it); got 0",
        ),
        (
            lambda s: updatable.set_epochs(s, IntParam(4, choices=(0, 4))),
            "'epochs': allowed values must be positive",
        ),
        (lambda s: updatable.set_epochs(s, 2.5), "must be an integer; got 2.5"),
        (lambda s: updatable.set_shuffle(s, "yes"), "must be True or False"),
        (lambda s: updatable.set_shuffle(s, True, seed=1.5), "'seed' must be an integer"),
    ],
)
def test_bad_values_raise_and_change_nothing(call, fragment):
    spec = prepared()
    updatable.set_optimizer(spec, "sgd")
    updatable.set_epochs(spec, 3)
    before = copy(spec)
    with pytest.raises(ParameterError) as info:
        call(spec)
    assert fragment in str(info.value)
    assert spec == before


def test_a_wider_learning_rate_range_is_accepted_when_asked_for():
    spec = prepared()
    updatable.set_optimizer(spec, "sgd", learning_rate=DoubleParam(5, range=(0, 10)))
    updatable.set_epochs(spec, 1)
    assert spec.neuralNetwork.updateParams.optimizer.sgdOptimizer.learningRate.defaultValue == 5
    assert core_ml_errors(spec) == []


def test_what_we_refuse_core_ml_refuses_too():
    """coremltools writes lr 5 in [0, 1] silently; Core ML rejects the file (rule C10)."""
    spec = prepared()
    builder = NeuralNetworkBuilder(spec=spec)
    params = SgdParams()
    params.set_lr(5, 0, 1)
    builder.set_sgd_optimizer(params)
    builder.set_epochs(3)
    assert [issue.message for issue in core_ml_errors(spec)] == [
        "Specified Default Value (5.000000) out of Allowed Value Range for 'learningRate'"
    ]


def test_shuffle_seed_may_be_negative_and_constrained(tmp_path):
    spec = prepared()
    updatable.set_optimizer(spec, "sgd")
    updatable.set_epochs(spec, 2)
    updatable.set_shuffle(spec, True, seed=-5)
    update = reloaded(spec, tmp_path).neuralNetwork.updateParams
    assert update.shuffle.defaultValue is True and update.seed.defaultValue == -5
    assert update.seed.WhichOneof("AllowedValues") is None  # coremltools writes no constraint
    assert core_ml_errors(spec) == []
    updatable.set_shuffle(spec, False)  # seed=None keeps the seed
    assert spec.neuralNetwork.updateParams.seed.defaultValue == -5
    assert spec.neuralNetwork.updateParams.shuffle.defaultValue is False
    updatable.set_shuffle(spec, True, seed=IntParam(100, range=(0, 100)))
    assert spec.neuralNetwork.updateParams.seed.range.maxValue == 100
    assert core_ml_errors(spec) == []


def test_seed_matches_coremltools_set_shuffle():
    spec = prepared()
    builder = NeuralNetworkBuilder(spec=copy(spec))
    builder.set_shuffle(seed=7)
    updatable.set_shuffle(spec, True, seed=7)
    assert spec == builder.spec
    with pytest.raises(TypeError, match="Shuffle seed value must be integer"):
        builder.set_shuffle(seed=1.5)


def test_training_settings_need_a_neural_network():
    knn = builders.empty_knn()
    for call in (
        lambda: updatable.set_optimizer(knn, "sgd"),
        lambda: updatable.set_epochs(knn, 3),
        lambda: updatable.set_shuffle(knn),
    ):
        with pytest.raises(UnsupportedModelError, match="kNN classifier is updatable as a whole"):
            call()


def test_no_output_is_printed(capsys):
    spec = prepared()
    with contextlib.redirect_stderr(io.StringIO()):
        updatable.set_optimizer(spec, "adam")
        updatable.set_epochs(spec, 3)
        updatable.set_shuffle(spec, seed=1)
    assert capsys.readouterr() == ("", "")
