"""Runtime, neural-network layer: Core ML ``floor``: ``y = floor(x)`` elementwise.

``FloorLayerParams`` (NeuralNetwork.proto, Core ML 3): one input, one output of its shape; the
largest integer not above ``x``. Computed by ``runtime.nn.layers._elementwise_unary`` in the
blob's dtype.
"""

from __future__ import annotations

from . import _elementwise_unary

KIND = _elementwise_unary.kind("floor")
