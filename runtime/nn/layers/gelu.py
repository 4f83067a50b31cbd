"""Runtime, neural-network layer: Core ML ``gelu``: the Gaussian error linear unit, elementwise.

``GeluLayerParams`` (NeuralNetwork.proto, Core ML 3), by ``mode``:

* ``EXACT``: ``0.5 x (1 + erf(x / sqrt 2))`` (what converters write for ``nn.GELU()``);
* ``TANH_APPROXIMATION``: ``0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))``;
* ``SIGMOID_APPROXIMATION``: ``x sigmoid(1.702 x)``.

Computed in float64 per value (``runtime.kernels.special``); any rank, either layout.
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.kernels import special
from updatable.errors import UnsupportedLayerError

from . import _nd_unary as unary
from ._common import where
from .base import CHW, ND, Built, LayerKind

MODES = ("EXACT", "TANH_APPROXIMATION", "SIGMOID_APPROXIMATION")  # GeluMode, in enum order


@dataclass(frozen=True)
class GeluAttrs:
    mode: int


def build(layer, in_shapes) -> Built:
    built = unary.build(layer, in_shapes)
    mode = int(layer.gelu.mode)
    if not 0 <= mode < len(MODES):
        raise UnsupportedLayerError(f"{where(layer)}: unknown mode {mode}; expected {MODES}")
    return Built(GeluAttrs(mode), {}, built.out_shapes)


def forward(attrs: GeluAttrs, params, xs, keep=False, out=None):
    """``y = gelu(x)`` in the layer's mode."""
    del params, keep, out
    return [unary.apply(special.gelu, xs[0], attrs.mode)], None


KIND = LayerKind("gelu", build, forward, layouts=(CHW, ND), build_nd=build)
