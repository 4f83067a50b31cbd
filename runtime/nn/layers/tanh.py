"""Runtime, neural-network layer: Core ML ``tanh``: ``y = tanh(x)`` elementwise.

``TanhLayerParams`` (NeuralNetwork.proto, Core ML 3): one input, one output of its shape; the
hyperbolic tangent, a layer kind of its own beside the ``activation`` layer's TANH (same
values). Computed by ``runtime.nn.layers._elementwise_unary`` in the blob's dtype.
"""

from __future__ import annotations

from . import _elementwise_unary

KIND = _elementwise_unary.kind("tanh")
