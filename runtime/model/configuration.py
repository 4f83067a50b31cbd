"""Parameter keys, model configuration, and the hyperparameters an update task runs with.

Mirrors ``MLParameterKey`` and ``MLModelConfiguration.parameters``. Defaults come from the
model's ``NetworkUpdateParameters``; every override in ``ModelConfiguration.parameters`` is
checked against the model's allowed range or set when the task is created, and an invalid
value raises there, before anything runs, as Core ML's initializer throws
(update-task-semantics.md §A.4).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from updatable.errors import ParameterError


@dataclass(frozen=True)
class ParameterKey:
    """``MLParameterKey``: a parameter name, optionally scoped to a layer or sub-model."""

    name: str
    scope: str | None = None

    def scoped(self, scope: str) -> ParameterKey:
        """The same key restricted to a layer or pipeline sub-model (``scoped(to:)``)."""
        return replace(self, scope=scope)

    def __str__(self) -> str:
        return self.name if self.scope is None else f"{self.name}@{self.scope}"

    # Filled in below: LEARNING_RATE, MOMENTUM, MINI_BATCH_SIZE, ...


_KEYS = {
    "LEARNING_RATE": "learningRate",
    "MOMENTUM": "momentum",
    "MINI_BATCH_SIZE": "miniBatchSize",
    "BETA1": "beta1",
    "BETA2": "beta2",
    "EPS": "eps",
    "EPOCHS": "epochs",
    "SHUFFLE": "shuffle",
    "SEED": "seed",
    "NUMBER_OF_NEIGHBORS": "numberOfNeighbors",
    "LINKED_MODEL_FILE_NAME": "linkedModelFileName",
    "LINKED_MODEL_SEARCH_PATH": "linkedModelSearchPath",
    "WEIGHTS": "weights",
    "BIASES": "biases",
}
for _attr, _name in _KEYS.items():
    setattr(ParameterKey, _attr, ParameterKey(_name))

KNOWN_NAMES = frozenset(_KEYS.values())


def as_key(key: ParameterKey | str) -> ParameterKey:
    """Accept a ``ParameterKey`` or its Core ML name (``"learningRate"``)."""
    if isinstance(key, ParameterKey):
        return key
    if isinstance(key, str) and key in KNOWN_NAMES:
        return ParameterKey(key)
    raise ParameterError(f"unknown parameter key {key!r}; known keys: {sorted(KNOWN_NAMES)}")


@dataclass
class ModelConfiguration:
    """``MLModelConfiguration``: load-time parameter overrides and engine options.

    Args:
        parameters: ``{ParameterKey or name: value}`` overrides, checked against the model's
            allowed values when a task or model is created.
        train_with_ml_compute: use the behaviour of Core ML's alternative (ML Compute)
            training engine instead of the default engine: a genuinely partial last batch, the
            epoch loss as the mean of the epoch's batch losses, and a reshuffle after every
            epoch whether or not ``epochEnd`` is subscribed (update-task-semantics.md §A.5).
    """

    parameters: Mapping[ParameterKey | str, Any] | None = None
    train_with_ml_compute: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def normalized_parameters(self) -> dict[ParameterKey, Any]:
        return {as_key(k): v for k, v in (self.parameters or {}).items()}


@dataclass(frozen=True)
class Constraint:
    """A parameter's allowed values as stored in the model: a range, a set, or nothing."""

    kind: str  # "range", "set" or "none"
    low: float | int | None = None
    high: float | int | None = None
    values: tuple = ()

    @classmethod
    def of(cls, message) -> Constraint:
        which = message.WhichOneof("AllowedValues") if hasattr(message, "WhichOneof") else None
        if which == "range":
            return cls("range", message.range.minValue, message.range.maxValue)
        if which == "set":
            return cls("set", values=tuple(message.set.values))
        return cls("none")

    def admits(self, value) -> bool:
        if self.kind == "range":
            return self.low <= value <= self.high
        if self.kind == "set":
            return value in self.values
        return True

    def describe(self) -> str:
        if self.kind == "range":
            return f"the range [{self.low}, {self.high}]"
        if self.kind == "set":
            return f"one of {{{', '.join(str(v) for v in self.values)}}}"
        return "any value"


@dataclass(frozen=True)
class Hyperparameter:
    """One training parameter of a model: its key, default, allowed values and type."""

    name: str
    default: Any
    constraint: Constraint
    kind: type  # float, int or bool

    def check(self, value) -> Any:
        """Return ``value`` converted to the parameter's type, or raise ``ParameterError``."""
        if self.kind is bool:
            if not isinstance(value, bool | int):
                raise ParameterError(
                    f"parameter '{self.name}' expects a Bool, got {type(value).__name__} {value!r}"
                )
            return bool(value)
        try:
            if self.kind is int and (isinstance(value, bool) or float(value) != int(value)):
                raise ValueError
            converted = self.kind(value)
        except (TypeError, ValueError):
            expected = "an Int64" if self.kind is int else "a Double"
            raise ParameterError(
                f"parameter '{self.name}' expects {expected}, got {type(value).__name__} {value!r}"
            ) from None
        if not self.constraint.admits(converted):
            raise ParameterError(
                f"invalid value {converted!r} for parameter '{self.name}': the model allows "
                f"{self.constraint.describe()} (default {self.default!r})"
            )
        return converted


def _double(name, message) -> Hyperparameter:
    return Hyperparameter(name, float(message.defaultValue), Constraint.of(message), float)


def _int(name, message) -> Hyperparameter:
    return Hyperparameter(name, int(message.defaultValue), Constraint.of(message), int)


def network_hyperparameters(update_params) -> dict[str, Hyperparameter]:
    """The training parameters a ``NetworkUpdateParameters`` message declares, by Core ML name.

    SGD contributes learningRate, miniBatchSize and momentum; Adam learningRate,
    miniBatchSize, beta1, beta2 and eps; then epochs, shuffle (false when absent) and seed
    (only when present: without one, Core ML's shuffle engine is default-constructed).
    """
    table: dict[str, Hyperparameter] = {}
    optimizer = update_params.optimizer
    which = optimizer.WhichOneof("OptimizerType")
    if which == "sgdOptimizer":
        sgd = optimizer.sgdOptimizer
        table["learningRate"] = _double("learningRate", sgd.learningRate)
        table["miniBatchSize"] = _int("miniBatchSize", sgd.miniBatchSize)
        table["momentum"] = _double("momentum", sgd.momentum)
    elif which == "adamOptimizer":
        adam = optimizer.adamOptimizer
        table["learningRate"] = _double("learningRate", adam.learningRate)
        table["miniBatchSize"] = _int("miniBatchSize", adam.miniBatchSize)
        for name in ("beta1", "beta2", "eps"):
            table[name] = _double(name, getattr(adam, name))
    else:
        raise ParameterError("the model's update parameters have no optimizer (SGD or Adam)")
    table["epochs"] = _int("epochs", update_params.epochs)
    shuffle = update_params.shuffle.defaultValue if update_params.HasField("shuffle") else False
    table["shuffle"] = Hyperparameter("shuffle", bool(shuffle), Constraint("none"), bool)
    if update_params.HasField("seed"):
        table["seed"] = _int("seed", update_params.seed)
    return table


def resolve(
    table: Mapping[str, Hyperparameter], overrides: Mapping[ParameterKey, Any], what: str
) -> dict[str, Any]:
    """Defaults from ``table`` with unscoped ``overrides`` applied, each checked.

    Scoped keys (initial weights) are not hyperparameters and are skipped here. A key the
    model does not declare raises, naming the keys it does declare (``what`` names the model).
    """
    values = {name: parameter.default for name, parameter in table.items()}
    for key, value in overrides.items():
        if key.scope is not None:
            continue
        if key.name not in table:
            raise ParameterError(
                f"parameter '{key.name}' does not apply to {what}; its parameters are: "
                f"{sorted(table)}"
            )
        values[key.name] = table[key.name].check(value)
    return values


# The order in which the hyperparameters of a network are listed to people.
DISPLAY_ORDER = ("learningRate", "miniBatchSize", "momentum", "beta1", "beta2", "eps", "epochs",
                 "shuffle", "seed")


def describe(values: Mapping[str, Any]) -> str:
    """``"learningRate 0.01, miniBatchSize 8, ..."`` for the values present, in a fixed order."""
    return ", ".join(
        f"{key} {values[key]:g}" if isinstance(values[key], float) else f"{key} {values[key]}"
        for key in DISPLAY_ORDER
        if key in values
    )
