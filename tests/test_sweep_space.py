"""Sweeps: the allowed space from a model's constraints, users specs, data and feeding."""

from __future__ import annotations

import numpy as np
import pytest

import updatable
from runtime.sweeps.examples import load_examples
from runtime.sweeps.feed import feed_plan
from runtime.sweeps.space import (
    combination_key,
    double_range_grid,
    enumerate_space,
    int_range_grid,
)
from runtime.sweeps.users import UsersSpec, draw_users
from tests import builders
from updatable.errors import ModelFileError, ParameterError, SweepError
from updatable.params import DoubleParam, IntParam


def _values(space):
    return {d.name: d.values for d in space.swept}


# --- grids ---------------------------------------------------------------------------------
def test_a_double_range_from_zero_is_zero_then_decades_up_to_the_end():
    assert double_range_grid(0.0, 1.0, 5) == [0.0, 0.001, 0.01, 0.1, 1.0]
    assert double_range_grid(0.0, 0.05, 3) == [0.0, 0.005, 0.05]
    assert double_range_grid(0.0, 2.0, 2) == [0.0, 2.0]


def test_a_positive_double_range_is_log_spaced_with_both_ends_exact():
    assert double_range_grid(1e-4, 1e-1, 4) == [1e-4, 1e-3, 1e-2, 1e-1]
    grid = double_range_grid(0.003, 0.7, 6)
    assert grid[0] == 0.003 and grid[-1] == 0.7
    ratios = np.diff(np.log(grid))
    np.testing.assert_allclose(ratios, ratios[0], rtol=0.01)  # 3 significant digits
    assert grid[1:-1] == [0.00893, 0.0266, 0.0791, 0.235]


def test_a_range_below_zero_is_linear_and_a_point_range_is_one_value():
    assert double_range_grid(-1.0, 1.0, 5) == [-1.0, -0.5, 0.0, 0.5, 1.0]
    assert double_range_grid(0.25, 0.25, 5) == [0.25]


def test_integer_ranges_list_every_integer_or_spread_log_values():
    assert int_range_grid(1, 4, 5) == [1, 2, 3, 4]
    assert int_range_grid(1, 1000, 5) == [1, 6, 32, 178, 1000]
    assert int_range_grid(0, 100, 3) == [0, 50, 100]


# --- the space of real models ----------------------------------------------------------------
def test_sets_give_every_element_and_ranges_a_grid_with_the_default():
    space = enumerate_space(builders.sweep_classifier(lr=0.05, lr_range=(0.0, 1.0)), lr_grid=3)
    assert space.head == "neuralNetworkClassifier" and space.optimizer == "sgd"
    assert _values(space) == {
        "learningRate": (0.0, 0.05, 0.1, 1.0),  # 0, a decade below the end, the end + default
        "miniBatchSize": (1, 4, 16),
        "epochs": (2, 5),
        "momentum": (0.0, 0.1, 1.0),  # coremltools writes momentum with the range [0, 1]
    }
    assert len(space) == 4 * 3 * 2 * 3 == len(space.combinations())
    assert space.combinations()[0] == {
        "learningRate": 0.0, "miniBatchSize": 1, "epochs": 2, "momentum": 0.0,
    }  # fmt: skip


def test_adam_betas_and_eps_are_swept_when_they_have_ranges():
    spec = builders.sweep_classifier()
    updatable.set_optimizer(
        spec, "adam", learning_rate=DoubleParam(0.01, range=(0.001, 0.1)),
        mini_batch_size=IntParam(8, choices=(8,), positive=True),
        beta1=DoubleParam(0.9, range=(0.8, 0.99)), beta2=DoubleParam(0.999, range=None),
        eps=DoubleParam(1e-8, range=(1e-8, 1e-6)),
    )  # fmt: skip
    space = enumerate_space(spec, lr_grid=3, grid=2)
    assert space.optimizer == "adam"
    assert _values(space) == {
        "learningRate": (0.001, 0.01, 0.1),
        "miniBatchSize": (8,),
        "epochs": (2, 5),
        "beta1": (0.8, 0.9, 0.99),
        "eps": (1e-8, 1e-6),
    }
    beta2 = space.dimension("beta2")  # unbounded and not a primary parameter: held
    assert not beta2.swept and beta2.values == (0.999,)


def test_knn_and_pipelines_sweep_their_trainable_model():
    knn = builders.knn_classifier(dims=4, default_label="none", k=3, k_range=(1, 20))
    space = enumerate_space(knn, int_grid=4)
    assert space.head == "kNearestNeighborsClassifier"
    assert _values(space) == {"numberOfNeighbors": (1, 3, 7, 20)}  # 1, 2.7, 7.4, 20
    knn_set = builders.knn_classifier(dims=4, default_label="none", k=3, k_set={1, 3, 7})
    assert _values(enumerate_space(knn_set)) == {"numberOfNeighbors": (1, 3, 7)}
    pipeline = builders.features_head_pipeline()
    values = _values(enumerate_space(pipeline, lr_grid=3, params=["learningRate"]))
    assert values == {"learningRate": (0.0, 0.1, 1.0, 10.0)}


def test_params_restricts_the_sweep_and_holds_the_rest_at_their_defaults():
    space = enumerate_space(builders.sweep_classifier(), params=["miniBatchSize"])
    assert _values(space) == {"miniBatchSize": (1, 4, 16)}
    assert {d.name: d.values for d in space.held} == {
        "learningRate": (0.05,), "epochs": (5,), "momentum": (0.0,),
    }  # fmt: skip


def test_explicit_values_are_checked_against_the_model():
    spec = builders.sweep_classifier(lr_range=(0.0, 1.0))
    space = enumerate_space(spec, values={"learningRate": [0.1, 0.01, 0.1]}, params=[])
    assert _values(space) == {"learningRate": (0.01, 0.1)}
    assert space.dimension("learningRate").origin == "explicit"
    with pytest.raises(ParameterError, match=r"invalid value 2\.0 for parameter 'learningRate'"):
        enumerate_space(spec, values={"learningRate": [0.1, 2.0]})
    with pytest.raises(ParameterError, match=r"invalid value 8 for parameter 'miniBatchSize'"):
        enumerate_space(spec, values={"miniBatchSize": [4, 8]})


def test_unknown_parameters_and_too_small_grids_are_refused():
    spec = builders.sweep_classifier()
    with pytest.raises(ParameterError, match=r"cannot sweep 'beta1': the model's parameters are"):
        enumerate_space(spec, params=["beta1"])
    with pytest.raises(ParameterError, match="lr_grid must be an integer >= 2"):
        enumerate_space(spec, lr_grid=1)


def test_a_parameter_without_allowed_values_is_refused_with_advice():
    spec = builders.sweep_classifier()
    sgd = spec.neuralNetworkClassifier.updateParams.optimizer.sgdOptimizer
    sgd.learningRate.ClearField("range")  # Core ML accepts it: any learning rate is allowed
    updatable.check(spec)
    with pytest.raises(ParameterError) as error:
        enumerate_space(spec)
    message = str(error.value)
    assert message.startswith(
        "cannot sweep 'learningRate': the model gives it no allowed values (its DoubleParameter "
        "has no AllowedValues), so Core ML accepts any value and there is no range to enumerate."
    )
    assert "--lr-range 0,0.1" in message
    assert "updatable.set_optimizer(spec, 'sgd', learning_rate=DoubleParam(" in message
    assert "--values learningRate=V1,V2" in message
    space = enumerate_space(spec, values={"learningRate": [0.01, 100.0]})
    assert space.dimension("learningRate").values == (0.01, 100.0)
    assert not enumerate_space(spec, params=["epochs"]).dimension("learningRate").swept


def test_an_unbounded_k_is_refused_with_the_knn_advice():
    knn = builders.knn_classifier(dims=4, default_label="none", k=3)
    knn.kNearestNeighborsClassifier.numberOfNeighbors.ClearField("range")
    with pytest.raises(ParameterError, match=r"updatable\.set_number_of_neighbors\(spec, IntP"):
        enumerate_space(knn)


def test_combination_keys_are_stable_and_ordered():
    assert combination_key({"miniBatchSize": 8, "learningRate": 0.001}) == (
        "learningRate=0.001,miniBatchSize=8"
    )


# --- users -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, expected",
    [
        ("20x3classes:5shots:seed=0", UsersSpec(20, 3, 5, 10, 0)),
        ("users=20:classes=3:shots=5:test=4:seed=-2", UsersSpec(20, 3, 5, 4, -2)),
        ("8users:40shots:20test", UsersSpec(8, None, 40, 20, 0)),
        (" 2x1class : 1shot ", UsersSpec(2, 1, 1, 10, 0)),
    ],
)
def test_users_specs_parse(text, expected):
    assert UsersSpec.parse(text) == expected
    assert UsersSpec.parse(str(expected)) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("3classes:5shots", "does not say how many users"),
        ("20x3classes:5shots:6shots", "'shots' is given twice"),
        ("20x3classes:5apples", "cannot read '5apples'"),
        ("20x3classes:colour=3", "unknown setting 'colour'"),
        ("0x3classes", "'users' must be a positive integer; got 0"),
    ],
)
def test_bad_users_specs_say_what_is_wrong(text, message):
    with pytest.raises(SweepError, match=message):
        UsersSpec.parse(text)


def test_users_are_drawn_deterministically_and_independently():
    labels = np.repeat(np.arange(5), 20)
    users = draw_users(UsersSpec(6, 3, 4, 5, seed=3), labels)
    assert users == draw_users(UsersSpec(6, 3, 4, 5, seed=3), labels)
    assert users[:2] == draw_users(UsersSpec(2, 3, 4, 5, seed=3), labels)
    assert users != draw_users(UsersSpec(6, 3, 4, 5, seed=4), labels)
    for user in users:
        assert len(set(user.classes)) == 3 and len(user.train) == 12 and len(user.test) == 15
        assert not set(user.train) & set(user.test)
        assert sorted(set(labels[list(user.train)])) == list(user.classes)
        assert [int(labels[i]) for i in user.test].count(user.classes[0]) == 5


def test_users_that_cannot_be_drawn_are_refused():
    labels = np.repeat(np.arange(3), 6)
    with pytest.raises(SweepError, match="needs 4 classes but the data has only 3"):
        draw_users(UsersSpec(2, 4), labels)
    with pytest.raises(SweepError, match=r"every class needs 15 examples \(5 shots \+ 10 test\)"):
        draw_users(UsersSpec(2, 2), labels)
    unstructured = draw_users(UsersSpec(3, None, 5, 2), labels)
    assert [len(u.train) + len(u.test) for u in unstructured] == [7, 7, 7]


# --- data and feeding ------------------------------------------------------------------------
def test_npz_data_and_its_errors(tmp_path):
    x, y = np.zeros((4, 2, 2), np.uint8) + 10, np.array([0, 1, 0, 1])
    np.savez(tmp_path / "d.npz", x=x, y=y)
    examples = load_examples(f"{tmp_path / 'd.npz'}:scale=1/10")
    np.testing.assert_array_equal(examples.x, np.ones((4, 2, 2), np.float32))
    np.savez(tmp_path / "bad.npz", images=x, labels=y)
    with pytest.raises(ModelFileError, match=r"needs arrays 'x' .* it has \['images', 'labels'\]"):
        load_examples(tmp_path / "bad.npz")
    with pytest.raises(SweepError, match="unknown data source 'emnist'"):
        load_examples("emnist")
    with pytest.raises(SweepError, match="x has 4 examples but y has 3 labels"):
        load_examples((x, y[:3]))


def test_mnist_digits_come_from_the_shared_loader():
    examples = load_examples("mnist")
    assert examples.x.shape == (5000, 28, 28) and examples.is_classification
    assert sorted(set(examples.y.tolist())) == list(range(10))


def test_the_feed_plan_fits_examples_to_the_model_and_converts_labels():
    plan = feed_plan(builders.sweep_mnist_head(), load_examples((np.zeros((3, 784)), [1, 2, 3])))
    assert plan.input_name == "image" and plan.input_shape == (28, 28)
    assert plan.targets == (("digit", "string"),)
    example = plan.example(np.arange(784), np.int64(7))
    assert example["digit"] == "7" and example["image"].shape == (28, 28)


def test_data_that_does_not_fit_the_model_is_refused_before_any_task():
    spec = builders.sweep_mnist_head()
    with pytest.raises(
        SweepError,
        match=r"each example has shape \(8, 8\) \(64 values\) but the "
        r"model's input 'image' takes a 28x28 GRAYSCALE image \(784 values\)",
    ):
        feed_plan(spec, load_examples((np.zeros((3, 8, 8)), [1, 2, 3])))
    with pytest.raises(SweepError, match=r"labels the classifier does not know: \['11'\]"):
        feed_plan(spec, load_examples((np.zeros((3, 784)), [1, 2, 11])))
