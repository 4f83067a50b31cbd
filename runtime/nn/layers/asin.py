"""Runtime, neural-network layer: Core ML ``asin``: ``y = asin(x)`` elementwise.

``AsinLayerParams`` (NeuralNetwork.proto, Core ML 3): one input, one output of its shape; the
arcsine, in ``[-pi/2, pi/2]``; NaN outside ``[-1, 1]``. Computed by
``runtime.nn.layers._elementwise_unary`` in the blob's dtype.
"""

from __future__ import annotations

from . import _elementwise_unary

KIND = _elementwise_unary.kind("asin")
