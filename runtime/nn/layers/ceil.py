"""Runtime, neural-network layer: Core ML ``ceil``: ``y = ceil(x)`` elementwise.

``CeilLayerParams`` (NeuralNetwork.proto, Core ML 3): one input, one output of its shape; the
smallest integer not below ``x``. Computed by ``runtime.nn.layers._elementwise_unary`` in the
blob's dtype.
"""

from __future__ import annotations

from . import _elementwise_unary

KIND = _elementwise_unary.kind("ceil")
