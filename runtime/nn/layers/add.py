"""Runtime, neural-network layer: Core ML ``add`` layer: elementwise sum of the inputs, or ``x +
alpha`` for a single input.

Limited broadcasting as described in ``runtime.nn.layers._elementwise``; source: ``AddLayerParams``
in NeuralNetwork.proto.
"""

from __future__ import annotations

from . import _elementwise
from .base import CHW, ND, LayerKind

KIND = LayerKind(
    "add",
    _elementwise.build,
    _elementwise.forward,
    layouts=(CHW, ND),
    build_nd=_elementwise.build_nd,
)
