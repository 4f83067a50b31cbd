"""Runtime, neural-network layer: Core ML ``sinh``: ``y = sinh(x) = (e^x - e^-x) / 2`` elementwise.

``SinhLayerParams`` (NeuralNetwork.proto, Core ML 3): one input, one output of its shape; the
hyperbolic sine. Computed by ``runtime.nn.layers._elementwise_unary`` in the blob's dtype.
"""

from __future__ import annotations

from . import _elementwise_unary

KIND = _elementwise_unary.kind("sinh")
