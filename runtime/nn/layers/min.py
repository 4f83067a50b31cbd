"""Runtime, neural-network layer: Core ML ``min`` layer: elementwise minimum of the inputs.

Limited broadcasting as described in ``runtime.nn.layers._elementwise``; source: ``MinLayerParams``
in NeuralNetwork.proto.
"""

from __future__ import annotations

from . import _elementwise
from .base import CHW, ND, LayerKind

KIND = LayerKind(
    "min",
    _elementwise.build,
    _elementwise.forward,
    layouts=(CHW, ND),
    build_nd=_elementwise.build_nd,
)
