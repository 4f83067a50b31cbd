"""Runtime, neural-network layer: Core ML ``divideBroadcastable``: ``a / b`` elementwise, with numpy
broadcasting.

``DivideBroadcastableLayerParams`` (NeuralNetwork.proto, Core ML 3): 2 inputs, "conventional numpy-
like broadcasting"; see ``runtime.nn.layers._nd_broadcast``.
"""

from __future__ import annotations

from . import _nd_broadcast

KIND = _nd_broadcast.kind("divideBroadcastable")
