"""Runtime, neural-network layer: Core ML ``acos``: ``y = acos(x)`` elementwise.

``AcosLayerParams`` (NeuralNetwork.proto, Core ML 3): one input, one output of its shape; the
arccosine, in ``[0, pi]``; NaN outside ``[-1, 1]``. Computed by
``runtime.nn.layers._elementwise_unary`` in the blob's dtype.
"""

from __future__ import annotations

from . import _elementwise_unary

KIND = _elementwise_unary.kind("acos")
