"""Runtime, neural-network layer: Core ML ``l2normalize`` layer: divide each example by its L2 norm
over ``C, H, W``.

``L2NormalizeLayerParams`` (NeuralNetwork.proto): ``y = x / sqrt(sum(x^2) + epsilon)``, the sum
running over all elements of the example; ``epsilon`` defaults to 1e-6 when unset or 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._common import expect_inputs, or_default
from .base import Built, LayerKind, Shape


@dataclass(frozen=True)
class L2NormalizeAttrs:
    epsilon: float


def build(layer, in_shapes: list[Shape]) -> Built:
    expect_inputs(layer, in_shapes)
    epsilon = or_default(layer.l2normalize.epsilon, 1e-6)
    return Built(L2NormalizeAttrs(epsilon), {}, [in_shapes[0]])


def forward(attrs: L2NormalizeAttrs, params, xs, keep=False, out=None):
    """``y = x / sqrt(sum_chw(x^2) + epsilon)``."""
    del params, keep, out
    x = xs[0]
    squares = np.einsum("nhwc,nhwc->n", x, x)
    scale = 1.0 / np.sqrt(squares + x.dtype.type(attrs.epsilon))
    return [x * scale.astype(x.dtype)[:, None, None, None]], None


KIND = LayerKind(oneof="l2normalize", build=build, forward=forward)
