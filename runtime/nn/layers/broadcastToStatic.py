"""Runtime, neural-network layer: Core ML ``broadcastToStatic``: the input broadcast to the shape
``targetShape``.

``BroadcastToStaticLayerParams`` (NeuralNetwork.proto, Core ML 3): 1 input and ``targetShape``
(required, positive sizes); the output has that shape and holds the input stretched numpy-style
along its axes of size 1 (and its missing leading axes). One way only: an input that does not
fit the target is refused at load.
"""

from __future__ import annotations

from ._elementwise_broadcast import BroadcastToAttrs, broadcast_to, broadcast_to_forward
from ._elementwise_values import positive_shape
from ._nd_axes import input_count
from .base import ND, Built, CoreMLShape, LayerKind


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    input_count(layer, in_shapes, 1)
    wanted = positive_shape(layer, layer.broadcastToStatic.targetShape, "targetShape")
    target = broadcast_to(layer, tuple(in_shapes[0]), wanted)
    return Built(BroadcastToAttrs(target), {}, [target])


KIND = LayerKind("broadcastToStatic", build, broadcast_to_forward, layouts=(ND,))
