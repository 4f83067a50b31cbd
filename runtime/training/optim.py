"""Runtime, training layer: SGD and Adam as ``init`` / ``update`` pairs with NamedTuple state
(house rule 3).

Parameters and gradients are flat dicts ``{"layer/weights": array, ...}`` in the runtime's
layout (the formulas are elementwise, so the layout does not matter). ``update`` is pure:
it returns new parameters and new state; the learning rate is an argument of every call
because Core ML lets a progress handler change it between mini-batches.

Core ML documents neither the momentum convention nor Adam's bias correction
(docs/update-task-semantics.md §8). We use PyTorch's: SGD ``v = mu v + g; w -= lr v`` and Adam
with bias correction (``torch.optim.Adam``, eps added outside the square root); tests pin both
against ``torch.optim``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from runtime.kernels import optim as kernels

Params = dict[str, np.ndarray]


class Optimizer(NamedTuple):
    """An optimizer: ``init(params) -> state``, ``update(grads, state, params, lr)``."""

    name: str
    # each optimizer has its own state NamedTuple (SgdState, AdamState): typed Any here
    init: Callable[[Params], Any]
    update: Callable[[Params, Any, Params, float], tuple[Params, Any]]


class SgdState(NamedTuple):
    velocity: Params


class AdamState(NamedTuple):
    # the name shadows tuple.count(); kept: checkpoints store the state under its field names
    count: int  # type: ignore[assignment]
    mu: Params
    nu: Params


def sgd(momentum: float = 0.0) -> Optimizer:
    """Stochastic gradient descent with heavy-ball momentum.

    v_t = momentum * v_{t-1} + g_t;  w_t = w_{t-1} - lr * v_t  (v_0 = 0).
    With momentum 0 this is plain ``w -= lr * g``.
    """

    def init(params: Params) -> SgdState:
        return SgdState({k: np.zeros_like(v) for k, v in params.items()})

    def update(grads: Params, state: SgdState, params: Params, lr: float):
        new_params, velocity = {}, {}
        for key, w in params.items():
            new_params[key], velocity[key] = kernels.sgd_step(
                w, grads[key], state.velocity[key], lr, momentum
            )
        return new_params, SgdState(velocity)

    return Optimizer("sgd", init, update)


def adam(beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> Optimizer:
    """Adam with bias correction (Kingma & Ba, 2015).

    m_t = b1 m + (1 - b1) g;  v_t = b2 v + (1 - b2) g^2;
    w_t = w - lr * m_t / (1 - b1^t) / (sqrt(v_t / (1 - b2^t)) + eps).

    Precision of the hyperparameters: float64, the precision the model stores them in
    (``DoubleParameter``). Every scalar derived from them (``b1``, ``1 - b1``, ``b2``,
    ``1 - b2``, ``lr / (1 - b1^t)``, ``sqrt(1 - b2^t)``, ``eps``) is computed in float64 and
    rounded once to the weights' dtype (``runtime.kernels.optim.adam_coefficients``), as
    ``torch.optim.Adam`` does; the moments and weights are then updated in float32. Float32
    runs thus follow float64 Adam, torch and ONNX Runtime's AdamW to float32 rounding
    (pinned by ``tests/test_optim.py`` and ``tests/test_ort_training.py``).
    """

    def init(params: Params) -> AdamState:
        return AdamState(
            0,
            {k: np.zeros_like(v) for k, v in params.items()},
            {k: np.zeros_like(v) for k, v in params.items()},
        )

    def update(grads: Params, state: AdamState, params: Params, lr: float):
        count = state.count + 1
        new_params, mu, nu = {}, {}, {}
        for key, w in params.items():
            new_params[key], mu[key], nu[key] = kernels.adam_step(
                w, grads[key], state.mu[key], state.nu[key], lr, beta1, beta2, eps, count
            )
        return new_params, AdamState(count, mu, nu)

    return Optimizer("adam", init, update)


def state_to_arrays(state: NamedTuple) -> dict[str, np.ndarray]:
    """Flatten optimizer state into named arrays (for checkpoints)."""
    arrays: dict[str, np.ndarray] = {}
    for field, value in zip(state._fields, state, strict=True):
        if isinstance(value, dict):
            for key, array in value.items():
                arrays[f"{field}:{key}"] = array
        else:
            arrays[field] = np.asarray(value)
    return arrays


def state_from_arrays(template: NamedTuple, arrays: dict[str, np.ndarray]) -> NamedTuple:
    """Inverse of :func:`state_to_arrays`, shaped like ``template`` (from ``init``)."""
    values = []
    for field, value in zip(template._fields, template, strict=True):
        if isinstance(value, dict):
            values.append({key: arrays[f"{field}:{key}"].copy() for key in value})
        else:
            values.append(type(value)(arrays[field]))
    return template._make(values)
