"""Runtime, neural-network layer: Core ML ``equal``: ``y = (x1 == x2)`` as 1.0 / 0.0.

``EqualLayerParams`` (NeuralNetwork.proto, Core ML 3): 1 or 2 inputs, broadcast numpy-style;
``1.0`` where the comparison holds, ``0.0`` elsewhere; with one input ``y = (x1 == alpha)``. A
comparison with NaN is false, as in IEEE arithmetic. Shared build and forward:
``runtime.nn.layers._elementwise_logic``.
"""

from __future__ import annotations

from . import _elementwise_logic

KIND = _elementwise_logic.kind("equal")
