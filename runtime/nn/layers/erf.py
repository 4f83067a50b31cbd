"""Runtime, neural-network layer: Core ML ``erf``: the Gauss error function, elementwise.

``ErfLayerParams`` (NeuralNetwork.proto, Core ML 3): ``f(x) = 2 / sqrt(pi) * integral_0^x
e^(-t^2) dt``; the output has the input's shape. Computed in float64 per value
(``runtime.kernels.special``); any rank, either layout.
"""

from __future__ import annotations

from runtime.kernels import special

from . import _nd_unary as unary
from .base import CHW, ND, LayerKind


def forward(attrs, params, xs, keep=False, out=None):
    """``y = erf(x)``."""
    del attrs, params, keep, out
    return [unary.apply(special.erf, xs[0])], None


KIND = LayerKind("erf", unary.build, forward, layouts=(CHW, ND), build_nd=unary.build)
