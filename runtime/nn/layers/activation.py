"""Runtime, neural-network layer: Core ML ``activation`` layer: an elementwise nonlinearity.

``ActivationParams`` (NeuralNetwork.proto), with ``alpha``/``beta`` per channel where the proto
allows vectors (PReLU, parametric softplus):

==================  ===============================================
ReLU                ``max(0, x)``
leakyReLU           ``x if x >= 0 else alpha x``
thresholdedReLU     ``x if x >= alpha else 0``
PReLU               ``x_c if x_c >= 0 else alpha_c x_c``
tanh / scaledTanh   ``tanh(x)`` / ``alpha tanh(beta x)``
sigmoid             ``1 / (1 + e^-x)``
sigmoidHard         ``min(max(alpha x + beta, 0), 1)``
ELU                 ``x if x >= 0 else alpha (e^x - 1)``
softsign            ``x / (1 + |x|)``
softplus            ``log(1 + e^x)``; parametric: ``alpha_c log(1 + e^(beta_c x_c))``
linear              ``alpha x + beta``
==================  ===============================================

Backward exists for ReLU, sigmoid and tanh, the activations Core ML backpropagates through
(``isLayerSupportedForBackprop``); the others raise ``UnsupportedLayerError``.

``with_activation`` (re-exported here) fuses an activation into a convolution or innerProduct.
"""

from __future__ import annotations

import numpy as np

from ._common import expect_inputs
from ._fused import Activation, activation_grad, epilogue, parse_activation, rows, with_activation
from .base import Built, LayerKind, Shape

__all__ = ["KIND", "Activation", "with_activation"]


def build(layer, in_shapes: list[Shape]) -> Built:
    expect_inputs(layer, in_shapes)
    shape = tuple(int(v) for v in in_shapes[0])
    return Built(parse_activation(layer, layer.activation, shape[2]), {}, [shape])


def forward(attrs: Activation, params, xs, keep=False, out=None):
    """``y = f(x)``, written into ``out[0]`` when given; caches ``y`` when ``keep``."""
    del params
    x = xs[0]
    y = out[0] if out is not None and out[0] is not None else np.empty(x.shape, x.dtype)
    epilogue(rows(np.ascontiguousarray(x)), None, attrs, rows(y))
    return [y], (y if keep else None)


def backward(attrs: Activation, params, cache, dys, *, input_grads=True, param_grads=True):
    """``dx = dy * f'(x)``, computed from the output ``y`` (ReLU, sigmoid, tanh)."""
    del params, param_grads
    return [activation_grad(attrs, cache, dys[0]) if input_grads else None], {}


KIND = LayerKind(oneof="activation", build=build, forward=forward, backward=backward)
