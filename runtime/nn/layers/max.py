"""Runtime, neural-network layer: Core ML ``max`` layer: elementwise maximum of the inputs.

Limited broadcasting as described in ``runtime.nn.layers._elementwise``; source: ``MaxLayerParams``
in NeuralNetwork.proto.
"""

from __future__ import annotations

from . import _elementwise
from .base import CHW, ND, LayerKind

KIND = LayerKind(
    "max",
    _elementwise.build,
    _elementwise.forward,
    layouts=(CHW, ND),
    build_nd=_elementwise.build_nd,
)
