"""Runtime, neural-network layer: Core ML ``atanh``: ``y = atanh(x) = ln((1 + x) / (1 - x)) / 2``
elementwise.

``AtanhLayerParams`` (NeuralNetwork.proto, Core ML 3): one input, one output of its shape; the
inverse hyperbolic tangent; +-inf at +-1, NaN outside ``[-1, 1]``. Computed by
``runtime.nn.layers._elementwise_unary`` in the blob's dtype.
"""

from __future__ import annotations

from . import _elementwise_unary

KIND = _elementwise_unary.kind("atanh")
