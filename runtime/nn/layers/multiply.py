"""Runtime, neural-network layer: Core ML ``multiply`` layer: elementwise product of the inputs, or
``alpha * x`` for one input.

Limited broadcasting as described in ``runtime.nn.layers._elementwise``; source:
``MultiplyLayerParams`` in NeuralNetwork.proto.
"""

from __future__ import annotations

from . import _elementwise
from .base import CHW, ND, LayerKind

KIND = LayerKind(
    "multiply",
    _elementwise.build,
    _elementwise.forward,
    layouts=(CHW, ND),
    build_nd=_elementwise.build_nd,
)
