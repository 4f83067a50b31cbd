"""Runtime, neural-network layer: Core ML ``exp2``: ``y = 2^x`` elementwise.

``Exp2LayerParams`` (NeuralNetwork.proto, Core ML 3): one input, one output of its shape; the
exponential with base 2. Computed by ``runtime.nn.layers._elementwise_unary`` in the blob's
dtype.
"""

from __future__ import annotations

from . import _elementwise_unary

KIND = _elementwise_unary.kind("exp2")
