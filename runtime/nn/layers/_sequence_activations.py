"""Runtime, neural-network layer: the activations of Core ML's recurrent layers, shared by
simpleRecurrent, gru, uniDirectionalLSTM and biDirectionalLSTM.

NeuralNetwork.proto ("Recurrent Layers") lists what those layers support:

================  ===========================================================
linear            ``x``
sigmoid           ``1 / (1 + e^-x)``
tanh              ``tanh(x)``
ReLU              ``max(0, x)``
scaledTanh        ``alpha tanh(beta x)``, only ``alpha = 1.7159``, ``beta = 2/3``
sigmoidHard       ``min(max(alpha x + beta, 0), 1)``, only ``alpha = 0.2``, ``beta = 0.5``
================  ===========================================================

Readings of what the proto leaves open (each pinned by a test):

* A recurrent layer's activation is a choice from that list, not a parameterised function:
  coremltools' builder writes every one of them with ``alpha = beta = 0`` (its
  ``_set_recurrent_activation`` merges an empty message). So ``0, 0`` means the documented
  constants (the identity for ``linear``); the documented values themselves are accepted
  (to float32 rounding); any other value is refused, since Core ML supports no other.
* Every other nonlinearity (leakyReLU, ELU, softplus...) is refused, as Core ML's validator
  refuses it ("Recurrent non-linearity type ... is not supported").

The derivative of each is computed from its output ``y`` alone (what the forward keeps).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from updatable.errors import UnsupportedLayerError

from ._common import where

# The only parameters Core ML supports for its two parameterised recurrent activations.
SCALED_TANH = (1.7159, 2.0 / 3.0)
HARD_SIGMOID = (0.2, 0.5)
# clip() of every pre-activation in the recurrent equations of NeuralNetwork.proto
CLIP = 50.0


@dataclass(frozen=True)
class Recurrent:
    """One recurrent activation: its Core ML name (``ActivationParams`` oneof)."""

    name: str

    def __call__(self, a: np.ndarray) -> np.ndarray:
        return _FORWARD[self.name](a)

    def grad(self, y: np.ndarray) -> np.ndarray:
        """``f'(a)`` written with ``y = f(a)``."""
        return _GRAD[self.name](y)


def _sigmoid(a):
    # exp of the negated magnitude never overflows; the clip already bounds |a| <= 50
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)


def _scaled_tanh(a):
    alpha, beta = (np.asarray(v, a.dtype) for v in SCALED_TANH)
    return alpha * np.tanh(beta * a)


def _hard_sigmoid(a):
    alpha, beta = (np.asarray(v, a.dtype) for v in HARD_SIGMOID)
    return np.clip(alpha * a + beta, 0, 1)


def _scaled_tanh_grad(y):
    alpha, beta = SCALED_TANH
    return (alpha * beta) * (1 - (y / alpha) ** 2)


_FORWARD: dict[str, Callable] = {
    "linear": lambda a: a,
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "ReLU": lambda a: np.maximum(a, 0),
    "scaledTanh": _scaled_tanh,
    "sigmoidHard": _hard_sigmoid,
}
_GRAD: dict[str, Callable] = {
    "linear": np.ones_like,
    "sigmoid": lambda y: y * (1 - y),
    "tanh": lambda y: 1 - y * y,
    "ReLU": lambda y: (y > 0).astype(y.dtype),
    "scaledTanh": _scaled_tanh_grad,
    "sigmoidHard": lambda y: np.where((y > 0) & (y < 1), HARD_SIGMOID[0], 0).astype(y.dtype),
}
_FIXED = {"linear": (1.0, 0.0), "scaledTanh": SCALED_TANH, "sigmoidHard": HARD_SIGMOID}


def recurrent(layer, params, what: str = "activation") -> Recurrent:
    """The :class:`Recurrent` of an ``ActivationParams`` of a recurrent layer.

    Raises:
        UnsupportedLayerError: naming the layer, for a nonlinearity recurrent layers do not
            support, an unset one, or parameters other than the documented ones.
    """
    name = params.WhichOneof("NonlinearityType")
    if name not in _FORWARD:
        raise UnsupportedLayerError(
            f"{where(layer)}: {what} is {name or 'not set'}; recurrent layers support "
            f"{', '.join(_FORWARD)}"
        )
    if name in _FIXED:
        alpha, beta = float(getattr(params, name).alpha), float(getattr(params, name).beta)
        documented = _FIXED[name]
        if (alpha, beta) != (0.0, 0.0) and not np.allclose(
            (alpha, beta), documented, rtol=1e-6, atol=0
        ):
            raise UnsupportedLayerError(
                f"{where(layer)}: {what} {name} has alpha = {alpha:g}, beta = {beta:g}; Core "
                f"ML's recurrent layers support only alpha = {documented[0]:g}, beta = "
                f"{documented[1]:g} (or both unset)"
            )
    return Recurrent(name)


def recurrent_list(layer, params_list, count: int, what: str) -> tuple[Recurrent, ...]:
    """``count`` activations ``[f, g, ...]`` of a gru / LSTM layer, in the proto's order."""
    if len(params_list) != count:
        raise UnsupportedLayerError(
            f"{where(layer)}: {what} lists {len(params_list)} activations; expected {count}"
        )
    return tuple(recurrent(layer, p, f"{what}[{i}]") for i, p in enumerate(params_list))


def clipped(a: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """``clip(a)`` to ``[-50, 50]`` and, when it clipped anything, the mask where it did not
    (the gradient passes only there); ``None`` when nothing was clipped."""
    outside = np.abs(a) > CLIP
    if not outside.any():
        return a, None
    return np.clip(a, -CLIP, CLIP), ~outside
