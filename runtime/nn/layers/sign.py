"""Runtime, neural-network layer: Core ML ``sign``: ``y = sign(x)`` elementwise.

``SignLayerParams`` (NeuralNetwork.proto, Core ML 3): one input, one output of its shape;
``+1`` for positive values, ``-1`` for negative values, ``0`` for zeros (NaN stays NaN).
Computed by ``runtime.nn.layers._elementwise_unary`` in the blob's dtype.
"""

from __future__ import annotations

from . import _elementwise_unary

KIND = _elementwise_unary.kind("sign")
