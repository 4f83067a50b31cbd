"""Runtime, neural-network layer: Core ML ``cosh``: ``y = cosh(x) = (e^x + e^-x) / 2`` elementwise.

``CoshLayerParams`` (NeuralNetwork.proto, Core ML 3): one input, one output of its shape; the
hyperbolic cosine. Computed by ``runtime.nn.layers._elementwise_unary`` in the blob's dtype.
"""

from __future__ import annotations

from . import _elementwise_unary

KIND = _elementwise_unary.kind("cosh")
