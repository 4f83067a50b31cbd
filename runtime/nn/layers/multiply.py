"""Runtime, neural-network layer: Core ML ``multiply`` layer: elementwise product of the inputs, or
``alpha * x`` for one input.

Limited broadcasting as described in ``runtime.nn.layers._elementwise``; source:
``MultiplyLayerParams`` in NeuralNetwork.proto.
"""

from __future__ import annotations

from . import _elementwise
from .base import LayerKind

KIND = LayerKind(oneof="multiply", build=_elementwise.build, forward=_elementwise.forward)
