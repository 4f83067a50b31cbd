"""Runtime, neural-network layer: Core ML ``average`` layer: elementwise mean of the inputs, ``(x1
+ ... + xk) / k``.

Limited broadcasting as described in ``runtime.nn.layers._elementwise``; source:
``AverageLayerParams`` in NeuralNetwork.proto.
"""

from __future__ import annotations

from . import _elementwise
from .base import CHW, ND, LayerKind

KIND = LayerKind(
    "average",
    _elementwise.build,
    _elementwise.forward,
    layouts=(CHW, ND),
    build_nd=_elementwise.build_nd,
)
