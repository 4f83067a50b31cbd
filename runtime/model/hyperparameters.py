"""Runtime, model layer: the hyperparameters a model declares, and overrides checked against them.

Defaults come from the model (a network's ``NetworkUpdateParameters``, a kNN's
``numberOfNeighbors``); the allowed values are the model's own ``Int64Parameter`` /
``DoubleParameter`` constraints, read as :class:`~updatable.params.IntParam` /
:class:`~updatable.params.DoubleParam` (the one constraint model of the toolkit). Every
override in ``ModelConfiguration.parameters`` is checked when the task or model is created,
and an invalid value raises there, before anything runs, as Core ML's initializer throws.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runtime.model.configuration import ParameterKey
from updatable.errors import ParameterError
from updatable.params import DoubleParam, IntParam


@dataclass(frozen=True)
class Hyperparameter:
    """One training parameter of a model: its name, default, type and allowed values.

    ``allowed`` is ``None`` when the model declares no constraint (any value of the type).
    """

    name: str
    default: Any
    kind: type  # float, int or bool
    allowed: IntParam | DoubleParam | None = None

    @classmethod
    def of(cls, name: str, message, kind: type) -> Hyperparameter:
        """Read an ``Int64Parameter`` (``kind`` int) or a ``DoubleParameter`` (``kind``
        float) as the model stores it."""
        reader = IntParam if kind is int else DoubleParam
        allowed = reader.from_proto(message, name=name)
        constrained = message.WhichOneof("AllowedValues") is not None
        return cls(name, kind(message.defaultValue), kind, allowed if constrained else None)

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
        if self.allowed is not None and not self.allowed.allows(converted):
            raise ParameterError(
                f"invalid value {converted!r} for parameter '{self.name}': the model allows "
                f"{self.allowed_text()} (default {self.default!r})"
            )
        return converted

    def allowed_text(self) -> str:
        """``"the range [0.0001, 0.5]"``, ``"one of {1, 8, 32}"`` or ``"any value"``."""
        if self.allowed is not None and self.allowed.range is not None:
            low, high = self.allowed.range
            return f"the range [{low}, {high}]"
        choices = getattr(self.allowed, "choices", None)
        if choices is not None:
            return f"one of {{{', '.join(str(v) for v in choices)}}}"
        return "any value"


def network_hyperparameters(update_params) -> dict[str, Hyperparameter]:
    """The training parameters a ``NetworkUpdateParameters`` message declares, by Core ML name.

    SGD contributes learningRate, miniBatchSize and momentum; Adam learningRate,
    miniBatchSize, beta1, beta2 and eps; then epochs, shuffle (false when absent) and seed
    (only when present: without one, Core ML's shuffle engine is default-constructed).
    """
    table: dict[str, Hyperparameter] = {}
    optimizer = update_params.optimizer
    which = optimizer.WhichOneof("OptimizerType")
    names: tuple[str, ...]
    if which == "sgdOptimizer":
        names = ("learningRate", "miniBatchSize", "momentum")
    elif which == "adamOptimizer":
        names = ("learningRate", "miniBatchSize", "beta1", "beta2", "eps")
    else:
        raise ParameterError("the model's update parameters have no optimizer (SGD or Adam)")
    settings = getattr(optimizer, which)
    for name in names:
        kind = int if name == "miniBatchSize" else float
        table[name] = Hyperparameter.of(name, getattr(settings, name), kind)
    table["epochs"] = Hyperparameter.of("epochs", update_params.epochs, int)
    shuffle = update_params.shuffle.defaultValue if update_params.HasField("shuffle") else False
    table["shuffle"] = Hyperparameter("shuffle", bool(shuffle), bool)
    if update_params.HasField("seed"):
        table["seed"] = Hyperparameter.of("seed", update_params.seed, int)
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
DISPLAY_ORDER = (
    "learningRate",
    "miniBatchSize",
    "momentum",
    "beta1",
    "beta2",
    "eps",
    "epochs",
    "shuffle",
    "seed",
)


def describe(values: Mapping[str, Any]) -> str:
    """``"learningRate 0.01, miniBatchSize 8, ..."`` for the values present, in a fixed order."""
    return ", ".join(
        f"{key} {values[key]:g}" if isinstance(values[key], float) else f"{key} {values[key]}"
        for key in DISPLAY_ORDER
        if key in values
    )
