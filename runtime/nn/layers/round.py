"""Runtime, neural-network layer: Core ML ``round``: ``y = round(x)`` elementwise.

``RoundLayerParams`` (NeuralNetwork.proto, Core ML 3): one input, one output of its shape; the
nearest integer; a value halfway between two integers goes to the even one (``0.5 -> 0``, ``1.5
-> 2``, ``-2.5 -> -2``). The proto says only "rounds the value to the nearest integer";
coremltools documents ``0.5 -> 0`` for the op its converters lower to this layer, which is
round-half-to-even (numpy's and torch's rule). Computed by
``runtime.nn.layers._elementwise_unary`` in the blob's dtype.
"""

from __future__ import annotations

from . import _elementwise_unary

KIND = _elementwise_unary.kind("round")
