"""Runtime, neural-network layer: Core ML ``minBroadcastable``: ``min(a, b)`` elementwise, with
numpy broadcasting.

``MinBroadcastableLayerParams`` (NeuralNetwork.proto, Core ML 3): 2 inputs, "conventional numpy-like
broadcasting"; see ``runtime.nn.layers._nd_broadcast``.
"""

from __future__ import annotations

from . import _nd_broadcast

KIND = _nd_broadcast.kind("minBroadcastable")
