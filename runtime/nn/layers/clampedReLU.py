"""Runtime, neural-network layer: Core ML ``clampedReLU``: a leaky ReLU capped at ``beta``.

``ClampedReLULayerParams`` (NeuralNetwork.proto, iOS 14)::

    y = min(beta, x)           if x >= 0
    y = min(beta, alpha * x)   if x < 0

One input, one output of its shape, any rank. ``alpha = 0, beta = 6`` is ReLU6 (the builder's
defaults). Nothing constrains the parameters: with ``beta < 0`` every non-negative input
becomes ``beta``, as the formula says.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._nd_axes import input_count
from .base import CHW, ND, Built, CoreMLShape, LayerKind


@dataclass(frozen=True)
class ClampedReLUAttrs:
    alpha: float
    beta: float


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    input_count(layer, in_shapes, 1)
    p = layer.clampedReLU
    return Built(ClampedReLUAttrs(float(p.alpha), float(p.beta)), {}, [tuple(in_shapes[0])])


def forward(attrs: ClampedReLUAttrs, params, xs, keep=False, out=None):
    """``y = min(beta, x if x >= 0 else alpha * x)``."""
    del params, keep, out
    x = xs[0]
    t = x.dtype.type
    leaky = np.where(x >= 0, x, t(attrs.alpha) * x)
    return [np.minimum(leaky, t(attrs.beta)).astype(x.dtype, copy=False)], None


# elementwise: either layout, so a tensor between two convolutions stays channels-last
KIND = LayerKind("clampedReLU", build, forward, layouts=(ND, CHW), build_nd=build)
