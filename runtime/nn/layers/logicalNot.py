"""Runtime, neural-network layer: Core ML ``logicalNot``: ``y = NOT(x)`` as 1.0 / 0.0.

``LogicalNotLayerParams`` (NeuralNetwork.proto, Core ML 3): exactly 1 input; an input is false
where it equals ``0.0`` and true elsewhere (NaN included); the output is ``1.0`` where the
result is true, ``0.0`` elsewhere. Shared build and forward:
``runtime.nn.layers._elementwise_logic``.
"""

from __future__ import annotations

from . import _elementwise_logic

KIND = _elementwise_logic.kind("logicalNot")
