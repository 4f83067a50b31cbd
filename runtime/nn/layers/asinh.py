"""Runtime, neural-network layer: Core ML ``asinh``: ``y = asinh(x) = ln(x + sqrt(x^2 + 1))``
elementwise.

``AsinhLayerParams`` (NeuralNetwork.proto, Core ML 3): one input, one output of its shape; the
inverse hyperbolic sine. Computed by ``runtime.nn.layers._elementwise_unary`` in the blob's
dtype.
"""

from __future__ import annotations

from . import _elementwise_unary

KIND = _elementwise_unary.kind("asinh")
