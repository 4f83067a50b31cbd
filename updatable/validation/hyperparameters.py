"""Spec side, validation layer: Core ML's parameter validators and the training-parameter rules
C8-C16.

Source: coremltools ``mlmodel/src/Validation/ParameterValidator.cpp`` (the validators) and
``NeuralNetwork/UpdatableNeuralNetworkValidator.cpp`` (``validateOptimizer``,
``validateOtherTopLevelUpdateParameters``). Every message is Core ML's, with its quirks:

* an ``Int64Set`` is scanned in stored order up to the default only, so ``[4, 0]`` with
  default 4 passes and ``[0, 4]`` fails; an empty set always gives "not found";
* doubles print with ``std::to_string``, i.e. ``%f`` (``5`` -> ``5.000000``, ``1e-8`` ->
  ``0.000000``); a NaN default is never out of range (both comparisons are false);
* only the three "Non-positive ..." messages and "... expected to be a positive value." end
  with a period.
"""

from __future__ import annotations

from collections.abc import Iterator

from updatable import proto
from updatable.spec import network
from updatable.validation.issues import UPD_CONFIG, At, Issue


def _double_text(value: float) -> str:
    """``std::to_string(double)``: C's ``%f``."""
    return "%f" % value  # noqa: UP031 - the C format is the point


def int64_parameter_problem(
    name: str, parameter: proto.Message, should_be_positive: bool
) -> str | None:
    """``validateInt64Parameter``: the message Core ML gives for ``parameter``, or ``None``."""
    default = parameter.defaultValue
    if should_be_positive and default <= 0:
        return f"Default Value ({default}) for '{name}' expected to be a positive value."
    allowed = parameter.WhichOneof("AllowedValues")
    if allowed == "set":
        for value in parameter.set.values:
            if value == default:
                return None  # NOTE: values after the default are never looked at
            if value <= 0 and should_be_positive:
                return (
                    f"Non-positive value ({value}) in Allowed Values Set for '{name}' "
                    "is not allowed."
                )
        return f"Specified Default Value ({default}) not found in Allowed Values Set for '{name}'"
    if allowed == "range":
        low, high = parameter.range.minValue, parameter.range.maxValue
        if low <= 0 and should_be_positive:
            return (
                f"Non-positive min value ({low}) in Allowed Value Range for '{name}' "
                "is not allowed."
            )
        if high <= 0 and should_be_positive:
            return (
                f"Non-positive max value ({high}) in Allowed Value Range for '{name}' "
                "is not allowed."
            )
        if default < low or default > high:
            return f"Specified Default Value ({default}) out of Allowed Value Range for '{name}'"
        if low > high:  # unreachable: the default is out of range first; it prints the default
            return f"Specified minimum value ({default}) greater than maximum value for '{name}'"
    return None


def double_parameter_problem(name: str, parameter: proto.Message) -> str | None:
    """``validateDoubleParameter``: only a present range is checked, bounds inclusive."""
    if parameter.WhichOneof("AllowedValues") == "range":
        default = parameter.defaultValue
        # written as two comparisons, like Core ML, so that NaN passes
        if default < parameter.range.minValue or default > parameter.range.maxValue:
            return (
                f"Specified Default Value ({_double_text(default)}) out of Allowed Value Range "
                f"for '{name}'"
            )
    return None


# (optimizer field, parameter name, validator kind); Int64 parameters must be positive.
_SGD = (("learningRate", "double"), ("miniBatchSize", "int64"))
_ADAM = (
    ("learningRate", "double"),
    ("miniBatchSize", "int64"),
    ("beta1", "double"),
    ("beta2", "double"),
    ("eps", "double"),
)
# rule ids for SGD: (missing, invalid) per parameter; every Adam check is C13
_SGD_CODES = {"learningRate": ("C9", "C10"), "miniBatchSize": ("C11", "C12")}


def optimizer_valid(model: proto.Model, at: At) -> Iterator[Issue]:
    """C8-C13: the optimizer is SGD or Adam and each of its parameters is present, then valid.

    "Present" means only that the sub-message exists: an empty ``learningRate {}`` passes.
    SGD ``momentum`` is never validated.
    """
    optimizer = network(model).updateParams.optimizer
    kind = optimizer.WhichOneof("OptimizerType")
    if kind is None:
        yield at.error("C8", "updateParams.optimizer", "Optimizer is not recognized.", UPD_CONFIG)
        return
    fields, label = (_SGD, "SGD") if kind == "sgdOptimizer" else (_ADAM, "ADAM")
    params = getattr(optimizer, kind)
    for field, validator in fields:
        missing_code, invalid_code = _SGD_CODES[field] if label == "SGD" else ("C13", "C13")
        item = f"updateParams.optimizer.{kind}.{field}"
        if not params.HasField(field):
            what = "eps (epslion)" if field == "eps" else field  # Core ML's typo
            message = f"{label} optimizer should include {what} parameter."
            yield at.error(missing_code, item, message, UPD_CONFIG)
            return
        value = getattr(params, field)
        if validator == "double":
            problem = double_parameter_problem(field, value)
        else:
            problem = int64_parameter_problem(field, value, True)
        if problem is not None:
            yield at.error(invalid_code, item, problem, UPD_CONFIG)
            return


def epochs_and_seed_valid(model: proto.Model, at: At) -> Iterator[Issue]:
    """C14-C16: ``epochs`` present and positive; ``seed``, if present, a valid Int64 that may
    be negative. ``shuffle`` is never validated."""
    update = network(model).updateParams
    if not update.HasField("epochs"):
        message = "Epochs should be included in neural network update parameters."
        yield at.error("C14", "updateParams.epochs", message, UPD_CONFIG)
        return
    problem = int64_parameter_problem("epochs", update.epochs, True)
    if problem is not None:
        yield at.error("C15", "updateParams.epochs", problem, UPD_CONFIG)
        return
    if update.HasField("seed"):
        problem = int64_parameter_problem("seed", update.seed, False)
        if problem is not None:
            yield at.error("C16", "updateParams.seed", problem, UPD_CONFIG)
