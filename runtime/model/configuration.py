"""Runtime, model layer: parameter keys and the model configuration (load-time overrides).

Mirrors ``MLParameterKey`` and ``MLModelConfiguration.parameters``. An override names a
parameter, optionally scoped to a layer or a pipeline sub-model; :func:`lookup_parameter`
finds the one that applies to a model. What the overrides are checked against, the
parameters a model declares, is :mod:`runtime.model.hyperparameters`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

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

    # Filled in below from _KEYS (declared here for type checkers): the keys Core ML names
    LEARNING_RATE: ClassVar[ParameterKey]
    MOMENTUM: ClassVar[ParameterKey]
    MINI_BATCH_SIZE: ClassVar[ParameterKey]
    BETA1: ClassVar[ParameterKey]
    BETA2: ClassVar[ParameterKey]
    EPS: ClassVar[ParameterKey]
    EPOCHS: ClassVar[ParameterKey]
    SHUFFLE: ClassVar[ParameterKey]
    SEED: ClassVar[ParameterKey]
    NUMBER_OF_NEIGHBORS: ClassVar[ParameterKey]
    LINKED_MODEL_FILE_NAME: ClassVar[ParameterKey]
    LINKED_MODEL_SEARCH_PATH: ClassVar[ParameterKey]
    WEIGHTS: ClassVar[ParameterKey]
    BIASES: ClassVar[ParameterKey]


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


@dataclass(frozen=True)
class DivergenceSettings:
    """When training counts as diverging (an extension: Core ML checks neither).

    Args:
        weight_growth: a trainable layer whose largest weight magnitude exceeds
            ``weight_growth x max(its largest magnitude before training, 1)``, or any of whose
            weights is not finite, fails the update like a non-finite loss does (nothing is
            written). ``None``: never. A trained layer moves a few orders of magnitude at most;
            past six, float32 arithmetic on the weights soon overflows.
        loss_growth: an epoch whose mean loss exceeds ``loss_growth x`` the first epoch's is
            reported as a warning (the command line shows it; jobs report the ratio as the
            ``lossGrowth`` metric). ``None``: never.
    """

    weight_growth: float | None = 1e6
    loss_growth: float | None = 10.0


@dataclass
class ModelConfiguration:
    """``MLModelConfiguration``: load-time parameter overrides and engine options.

    Args:
        parameters: ``{ParameterKey or name: value}`` overrides, checked against the model's
            allowed values when a task or model is created.
        train_with_ml_compute: use the behaviour of Core ML's alternative (ML Compute)
            training engine instead of the default engine: a genuinely partial last batch, the
            epoch loss as the mean of the epoch's batch losses, and a reshuffle after every
            epoch whether or not ``epochEnd`` is subscribed (docs/update-task-semantics.md §5).
        divergence: :class:`DivergenceSettings` (an extension: when weights that blow up
            fail the update, and when a growing loss is reported).
    """

    parameters: Mapping[ParameterKey | str, Any] | None = None
    train_with_ml_compute: bool = False
    divergence: DivergenceSettings = field(default_factory=DivergenceSettings)
    extra: dict[str, Any] = field(default_factory=dict)

    def normalized_parameters(self) -> dict[ParameterKey, Any]:
        return {as_key(k): v for k, v in (self.parameters or {}).items()}


def lookup_parameter(
    parameters: Mapping[Any, Any] | None, name: str, *, scope: str | None = None
) -> Any | None:
    """The load-time override for ``name``: the key scoped to ``scope`` wins over the bare key.

    Keys are ``ParameterKey`` objects or Core ML names (``"numberOfNeighbors"``); keys that
    are neither are left to their owners. Returns ``None`` when not overridden.
    """
    found = None
    for key, value in (parameters or {}).items():
        try:
            key = as_key(key)
        except ParameterError:
            continue
        if key.name != name:
            continue
        if key.scope is None and found is None:
            found = value
        elif scope is not None and key.scope == scope:
            return value
    return found
