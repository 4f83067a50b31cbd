"""IntParam / DoubleParam: constraints that check themselves, and their protobuf form."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests import builders
from updatable import proto
from updatable.errors import ParameterError
from updatable.params import (
    DoubleParam,
    IntParam,
    describe_proto,
    double_param,
    int_param,
)


def test_int_param_with_a_set_writes_an_int64_set_in_the_given_order():
    param = IntParam(8, choices=(16, 8, 4), positive=True, name="miniBatchSize")
    message = param.to_proto()
    assert message.defaultValue == 8
    assert message.WhichOneof("AllowedValues") == "set"
    assert list(message.set.values) == [16, 8, 4]
    assert IntParam.from_proto(message, name="miniBatchSize", positive=True) == param


def test_python_sets_are_sorted_so_files_are_reproducible():
    assert IntParam(7, choices={9, 3, 7, 5}).choices == (3, 5, 7, 9)


def test_int_param_with_a_range_and_without_constraint():
    ranged = IntParam(12, range=(2, 24))
    assert (ranged.to_proto().range.minValue, ranged.to_proto().range.maxValue) == (2, 24)
    free = IntParam(-5, name="seed")
    assert free.to_proto().WhichOneof("AllowedValues") is None
    assert free.allows(-(2**63)) and free.describe() == "-5 (any value)"
    assert ranged.allows(2) and ranged.allows(24) and not ranged.allows(25)
    assert ranged.describe() == "12 (range [2, 24])"


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"default": 3, "choices": (10,)}, "default 3 is not among the allowed values [10]"),
        ({"default": 30, "range": (1, 24)}, "default 30 lies outside the allowed range [1, 24]"),
        ({"default": 4, "range": (1, 8), "choices": (4,)}, "either a range or a set"),
        ({"default": 4, "choices": ()}, "the set of allowed values is empty"),
        ({"default": 4, "choices": (4, 8, 4)}, "allowed values repeat [4]"),
        ({"default": 0, "positive": True}, "must be a positive integer"),
        ({"default": 4, "choices": (0, 4), "positive": True}, "allowed values must be positive"),
        ({"default": 4, "choices": (4, 0), "positive": True}, "allowed values must be positive"),
        ({"default": 4, "range": (0, 8), "positive": True}, "range minimum must be positive"),
        ({"default": 4, "range": (8, 1)}, "range minimum 8 is greater than maximum 1"),
        ({"default": True}, "must be an integer; got True"),
        ({"default": 2.0}, "must be an integer; got 2.0"),
        ({"default": 2**63}, "signed 64-bit"),
        ({"default": 4, "range": (1,)}, "must be a (min, max) pair"),
    ],
)
def test_int_param_refuses_what_core_ml_would_refuse(kwargs, fragment):
    with pytest.raises(ParameterError) as info:
        IntParam(name="epochs", **kwargs)
    assert fragment in str(info.value)
    assert "'epochs'" in str(info.value)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"default": 5.0, "range": (0.0, 1.0)}, "default 5 lies outside the allowed range [0, 1]"),
        ({"default": 0.5, "range": (1.0, 0.0)}, "range minimum 1.0 is greater than maximum 0.0"),
        ({"default": math.nan}, "must be a finite number"),
        ({"default": 0.1, "range": (0.0, math.inf)}, "must be a finite number"),
        ({"default": False}, "must be a number; got False"),
        ({"default": "0.1"}, "must be a number"),
    ],
)
def test_double_param_refusals(kwargs, fragment):
    with pytest.raises(ParameterError) as info:
        DoubleParam(name="learningRate", **kwargs)
    assert fragment in str(info.value)


def test_double_param_round_trip_and_single_point_range():
    param = DoubleParam(0.25, range=(0.25, 0.25), name="beta1")
    message = param.to_proto()
    assert message.defaultValue == 0.25 and message.range.maxValue == 0.25
    assert DoubleParam.from_proto(message) == param
    assert DoubleParam(0.9).to_proto().WhichOneof("AllowedValues") is None
    assert param.describe() == "0.25 (range [0.25, 0.25])"


def test_params_are_frozen_and_names_do_not_affect_equality():
    param = IntParam(8, choices=(4, 8))
    with pytest.raises(dataclasses.FrozenInstanceError):
        param.default = 4
    assert IntParam(8, choices=(4, 8), name="miniBatchSize") == param


def test_from_proto_refuses_an_invalid_message():
    message = proto.Int64Parameter(defaultValue=3)
    message.set.values.extend([10])
    with pytest.raises(ParameterError, match="not among the allowed values"):
        IntParam.from_proto(message, name="miniBatchSize")


def test_plain_numbers_get_coremltools_constraints():
    batch = int_param(8, "miniBatchSize", positive=True)
    assert batch == IntParam(8, choices=(8,), positive=True)
    assert int_param(-3, "seed", plain="none").choices is None
    assert double_param(0.01, "learningRate") == DoubleParam(0.01, range=(0.0, 1.0))
    with pytest.raises(ParameterError, match=r"pass DoubleParam\(5, range=\(min, max\)\)"):
        double_param(5, "learningRate")
    with pytest.raises(ParameterError, match="must be a positive integer"):
        int_param(0, "miniBatchSize", positive=True)
    # a user's IntParam is re-checked under the rule the field needs
    with pytest.raises(ParameterError, match="'epochs': allowed values must be positive"):
        int_param(IntParam(4, choices=(0, 4)), "epochs", positive=True)
    with pytest.raises(ParameterError, match="integer parameter"):
        int_param(DoubleParam(1.0), "epochs")


def test_coremltools_param_classes_accept_what_ours_refuse():
    """coremltools' RangeParam and Batch never check their default (docs/mlmodel-format.md §5.2)."""
    from coremltools.models.neural_network.update_optimizer_utils import Batch, RangeParam

    assert RangeParam(5, 0, 1).value == 5
    assert Batch(3, [10]).value == 3
    with pytest.raises(ParameterError):
        DoubleParam(5, range=(0, 1))
    with pytest.raises(ParameterError):
        IntParam(3, choices=(10,))


def test_messages_equal_what_coremltools_writes():
    from coremltools.models.neural_network import NeuralNetworkBuilder

    builder = NeuralNetworkBuilder(spec=builders.base_nn())
    builder.set_epochs(10, [5, 10, 20])
    written = builder.nn_spec.updateParams.epochs
    assert IntParam(10, choices=(5, 10, 20)).to_proto() == written


def test_describe_proto_reads_invalid_messages_too():
    message = proto.Int64Parameter(defaultValue=3)
    message.set.values.extend([10])
    assert describe_proto(message) == {"default": 3, "set": [10]}
    lr = DoubleParam(0.01, range=(0, 1)).to_proto()
    assert describe_proto(lr) == {"default": 0.01, "range": [0.0, 1.0]}
    assert describe_proto(proto.DoubleParameter()) == {"default": 0.0}


int64s = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@given(default=int64s, low=int64s, high=int64s)
def test_int_range_is_accepted_exactly_when_core_ml_accepts_it(default, low, high):
    valid = low <= default <= high
    try:
        param = IntParam(default, range=(low, high))
    except ParameterError:
        assert not valid
    else:
        assert valid
        assert IntParam.from_proto(param.to_proto()) == param


@given(
    default=st.integers(1, 50),
    values=st.lists(st.integers(-5, 50), min_size=1, max_size=8, unique=True),
)
def test_positive_int_set_matches_core_ml_without_its_scan_quirk(default, values):
    # Core ML stops scanning at the default, so a 0 after it slips through; we refuse any.
    valid = default in values and min(values) > 0
    try:
        param = IntParam(default, choices=values, positive=True)
    except ParameterError:
        assert not valid
    else:
        assert valid and param.allows(default)
        assert list(param.to_proto().set.values) == values
