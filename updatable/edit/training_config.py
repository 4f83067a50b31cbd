"""Spec side, editing layer: optimizer, epochs and shuffling of an updatable neural network
(``NetworkUpdateParameters``).

Every hyperparameter is a default plus the values an app may pick at load time
(``MLModelConfiguration.parameters``): a :class:`~updatable.params.DoubleParam` range, or an
:class:`~updatable.params.IntParam` range or set. A plain number gets a default constraint:
``miniBatchSize`` and ``epochs`` the one-value set ``{default}`` as coremltools writes them,
doubles the range of :data:`PLAIN_RANGES`. Each setter replaces what was there (coremltools
extends the sets on every call).
"""

from __future__ import annotations

from updatable import proto
from updatable.edit.nested import locate
from updatable.errors import ParameterError
from updatable.params import DoubleParam, IntParam, double_param, int_param
from updatable.spec import NEURAL_NETWORK_TYPES, network

OPTIMIZERS = ("sgd", "adam")

# coremltools' SgdParams / AdamParams defaults (update_optimizer_utils.py)
DEFAULTS = {
    "sgd": {"learning_rate": 0.01, "mini_batch_size": 10, "momentum": 0.0},
    "adam": {
        "learning_rate": 0.01,
        "mini_batch_size": 10,
        "beta1": 0.9,
        "beta2": 0.999,
        "eps": 1e-8,
    },
}
# Python argument -> Core ML field name
_FIELDS = {
    "learning_rate": "learningRate",
    "mini_batch_size": "miniBatchSize",
    "momentum": "momentum",
    "beta1": "beta1",
    "beta2": "beta2",
    "eps": "eps",
}

# The allowed range of a double given as a plain number. coremltools writes [0, 1] for every
# double, which lets an app pass values that stall or break training (lint X5): a learning
# rate of 0 never moves, an eps of 0 divides by zero when a gradient is 0, and a momentum or
# beta of 1 never forgets (Adam's bias correction then divides by 1 - 1^t = 0). These keep
# coremltools' upper bounds where they are harmless and stop short of the broken ends; the
# betas keep room for the usual 0.999 and 0.9999.
PLAIN_RANGES = {
    "learningRate": (1e-6, 1.0),
    "momentum": (0.0, 0.999),
    "beta1": (0.0, 0.999),
    "beta2": (0.0, 0.9999),
    "eps": (1e-10, 1.0),
}

Number = int | float


def set_optimizer(
    spec: proto.Model,
    optimizer: str = "sgd",
    *,
    learning_rate: Number | DoubleParam | None = None,
    mini_batch_size: int | IntParam | None = None,
    momentum: Number | DoubleParam | None = None,
    beta1: Number | DoubleParam | None = None,
    beta2: Number | DoubleParam | None = None,
    eps: Number | DoubleParam | None = None,
) -> proto.Model:
    """Write the SGD or Adam optimizer with every hyperparameter's default and allowed values.

    SGD (``SGDOptimizer``): ``learningRate``, ``miniBatchSize``, ``momentum``; Adam
    (``AdamOptimizer``): ``learningRate``, ``miniBatchSize``, ``beta1``, ``beta2``, ``eps``.
    Omitted values take coremltools' defaults: lr 0.01, batch 10, momentum 0, beta1 0.9,
    beta2 0.999, eps 1e-8. A plain number is allowed in its :data:`PLAIN_RANGES` entry (lr
    ``[1e-6, 1]``, momentum and beta1 ``[0, 0.999]``, beta2 ``[0, 0.9999]``, eps
    ``[1e-10, 1]``), which passes Core ML's validator and the toolkit's lint alike; pass a
    ``DoubleParam`` for another range. ``miniBatchSize`` must be positive (Core ML rule C12).

    Example::

        set_optimizer(spec, "sgd", learning_rate=DoubleParam(0.001, range=(0, 0.1)),
                      mini_batch_size=IntParam(8, choices=(1, 2, 8, 16)))

    Raises:
        ParameterError: an unknown optimizer, a value for the other optimizer (momentum with
            Adam, betas or eps with SGD), or a default outside its own constraint.
    """
    if optimizer not in OPTIMIZERS:
        raise ParameterError(f"unknown optimizer {optimizer!r}; choose one of {list(OPTIMIZERS)}")
    given = {
        "learning_rate": learning_rate,
        "mini_batch_size": mini_batch_size,
        "momentum": momentum,
        "beta1": beta1,
        "beta2": beta2,
        "eps": eps,
    }
    wrong = [
        arg for arg, value in given.items() if value is not None and arg not in DEFAULTS[optimizer]
    ]
    if wrong:
        raise ParameterError(
            f"{wrong} do not apply to the {optimizer} optimizer; it takes "
            f"{list(DEFAULTS[optimizer])}"
        )
    model, _ = locate(spec, NEURAL_NETWORK_TYPES, "set_optimizer")
    params: dict[str, IntParam | DoubleParam] = {}
    for arg, default in DEFAULTS[optimizer].items():
        value = default if given[arg] is None else given[arg]
        if arg == "mini_batch_size":
            params[arg] = int_param(value, _FIELDS[arg], positive=True)
        else:
            field = _FIELDS[arg]
            params[arg] = double_param(value, field, plain_range=PLAIN_RANGES[field])

    message = proto.NeuralNetwork_pb2.Optimizer()
    chosen = message.sgdOptimizer if optimizer == "sgd" else message.adamOptimizer
    for arg, param in params.items():
        getattr(chosen, _FIELDS[arg]).CopyFrom(param.to_proto())
    network(model).updateParams.optimizer.CopyFrom(message)
    return spec


def set_epochs(spec: proto.Model, epochs: int | IntParam) -> proto.Model:
    """Write ``epochs``: a positive default, with a plain integer allowing only itself.

    Example: ``set_epochs(spec, IntParam(10, choices=(1, 10, 50)))``. Core ML requires epochs
    (rule C14) and a positive default and set (C15). Replaces any previous value.
    """
    param = int_param(epochs, "epochs", positive=True)
    model, _ = locate(spec, NEURAL_NETWORK_TYPES, "set_epochs")
    network(model).updateParams.epochs.CopyFrom(param.to_proto())
    return spec


def set_shuffle(
    spec: proto.Model, enabled: bool = True, seed: int | IntParam | None = None
) -> proto.Model:
    """Switch shuffling of the training data on or off, and optionally fix its ``seed``.

    ``seed`` is an Int64 that Core ML does not require to be positive (rule C16); a plain
    integer is written without constraints, as coremltools does. ``seed=None`` keeps any seed
    already present: without one, Core ML's shuffle order is still deterministic (a
    default-constructed ``std::minstd_rand``), see ``docs/update-task-semantics.md``.
    """
    if not isinstance(enabled, bool):
        raise ParameterError(f"shuffle 'enabled' must be True or False; got {enabled!r}")
    seed_param = None if seed is None else int_param(seed, "seed", plain="none")
    model, _ = locate(spec, NEURAL_NETWORK_TYPES, "set_shuffle")
    update = network(model).updateParams
    update.shuffle.CopyFrom(proto.BoolParameter(defaultValue=enabled))
    if seed_param is not None:
        update.seed.CopyFrom(seed_param.to_proto())
    return spec
