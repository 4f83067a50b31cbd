"""Runtime, neural-network layer: Core ML ``max`` layer: elementwise maximum of the inputs.

Limited broadcasting as described in ``runtime.nn.layers._elementwise``; source: ``MaxLayerParams``
in NeuralNetwork.proto.
"""

from __future__ import annotations

from . import _elementwise
from .base import LayerKind

KIND = LayerKind(oneof="max", build=_elementwise.build, forward=_elementwise.forward)
