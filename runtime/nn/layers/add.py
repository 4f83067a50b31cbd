"""Runtime, neural-network layer: Core ML ``add`` layer: elementwise sum of the inputs, or ``x +
alpha`` for a single input.

Limited broadcasting as described in ``runtime.nn.layers._elementwise``; source: ``AddLayerParams``
in NeuralNetwork.proto.
"""

from __future__ import annotations

from . import _elementwise
from .base import LayerKind

KIND = LayerKind(oneof="add", build=_elementwise.build, forward=_elementwise.forward)
