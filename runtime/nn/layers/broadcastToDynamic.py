"""Runtime, neural-network layer: Core ML ``broadcastToDynamic``: the first input broadcast to the
shape held by the second.

``BroadcastToDynamicLayerParams`` (NeuralNetwork.proto, Core ML 3): 2 inputs; the second is a
rank-1 tensor holding the output's shape, which must be known when the model loads (computed
from constants or ``getShape``, see ``runtime.nn.layers._elementwise_values``). The first
input is stretched numpy-style to it; one way only, as ``broadcastToStatic``.
"""

from __future__ import annotations

from ._elementwise_broadcast import BroadcastToAttrs, broadcast_to, broadcast_to_forward
from ._elementwise_values import shape_from
from ._nd_axes import input_count
from .base import ND, Built, CoreMLShape, LayerKind


def build(layer, in_shapes: list[CoreMLShape], values) -> Built:
    input_count(layer, in_shapes, 2)
    wanted = shape_from(layer, values[1], "second input (the target shape)")
    target = broadcast_to(layer, tuple(in_shapes[0]), wanted)
    return Built(BroadcastToAttrs(target), {}, [target])


KIND = LayerKind(
    "broadcastToDynamic", build, broadcast_to_forward, layouts=(ND,), value_inputs=(1,)
)
