"""Runtime, neural-network layer: Core ML ``min`` layer: elementwise minimum of the inputs.

Limited broadcasting as described in ``runtime.nn.layers._elementwise``; source: ``MinLayerParams``
in NeuralNetwork.proto.
"""

from __future__ import annotations

from . import _elementwise
from .base import LayerKind

KIND = LayerKind(oneof="min", build=_elementwise.build, forward=_elementwise.forward)
