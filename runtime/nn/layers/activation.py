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

Any rank (``ActivationParams``: no rank limit, except PReLU and parametric softplus with
per-channel parameters, which read the channel axis -3 and need rank 3 or more). Both layouts:
in ``chw`` the channel axis is the blob's last; in ``nd`` a per-channel activation moves axis
-3 last for the kernel and back (:class:`ChannelActivation`), every other activation is
elementwise and runs on the array as it is.

Backward exists for ReLU, sigmoid and tanh, the activations Core ML backpropagates through
(``isLayerSupportedForBackprop``); the others raise ``UnsupportedLayerError``.

``with_activation`` (re-exported here) fuses an activation into a convolution or innerProduct.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from ._common import where
from ._fused import Activation, activation_grad, epilogue, parse_activation, rows, with_activation
from .base import CHW, ND, Built, CoreMLShape, LayerKind, Shape

__all__ = ["KIND", "Activation", "with_activation"]


@dataclass(frozen=True)
class ChannelActivation:
    """An activation with per-channel parameters on an ``nd`` blob: channels on axis -3."""

    activation: Activation


def build(layer, in_shapes: list[Shape]) -> Built:
    shape = tuple(int(v) for v in in_shapes[0])
    return Built(parse_activation(layer, layer.activation, shape[2]), {}, [shape])


def build_nd(layer, in_shapes: list[CoreMLShape]) -> Built:
    shape = tuple(in_shapes[0])
    try:
        activation = parse_activation(layer, layer.activation, shape[-3] if len(shape) >= 3 else 1)
    except ShapeError:
        if len(shape) >= 3:
            raise
        raise ShapeError(
            f"{where(layer)}: {layer.activation.WhichOneof('NonlinearityType')} with per-channel "
            f"parameters reads the channel axis -3; the input has shape {list(shape)}, rank 3 "
            "or more needed"
        ) from None
    if len(activation.alpha) > 1 or len(activation.beta) > 1:
        return Built(ChannelActivation(activation), {}, [shape])
    return Built(activation, {}, [shape])


def forward(attrs, params, xs, keep=False, out=None):
    """``y = f(x)``, written into ``out[0]`` when given; caches ``y`` when ``keep``."""
    del params
    x = xs[0]
    if isinstance(attrs, ChannelActivation):  # nd: channels last for the kernel, then back
        last = np.ascontiguousarray(np.moveaxis(x, -3, -1))
        epilogue(rows(last), None, attrs.activation, rows(last))
        y = np.ascontiguousarray(np.moveaxis(last, -1, -3))
        return [y], (y if keep else None)
    y = out[0] if out is not None and out[0] is not None else np.empty(x.shape, x.dtype)
    epilogue(rows(np.ascontiguousarray(x)), None, attrs, rows(y))
    return [y], (y if keep else None)


def backward(attrs, params, cache, dys, *, input_grads=True, param_grads=True):
    """``dx = dy * f'(x)``, computed from the output ``y`` (ReLU, sigmoid, tanh)."""
    del params, param_grads
    if isinstance(attrs, ChannelActivation):
        attrs = attrs.activation  # per-channel kinds have no backward: this raises
    return [activation_grad(attrs, cache, dys[0]) if input_grads else None], {}


KIND = LayerKind("activation", build, forward, backward, layouts=(CHW, ND), build_nd=build_nd)
