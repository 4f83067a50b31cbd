"""Runtime, neural-network layer: Core ML ``broadcastToLike``: the first input broadcast to the
shape of the second.

``BroadcastToLikeLayerParams`` (NeuralNetwork.proto, Core ML 3): 2 inputs; "Values of second
input are not used"; the output has the second input's shape and holds the first input
stretched numpy-style along its axes of size 1 (and its missing leading axes). Broadcasting is
one way: an input that does not fit the target (a size that is neither 1 nor the target's, or
more axes than the target) is refused at load.
"""

from __future__ import annotations

from ._elementwise_broadcast import BroadcastToAttrs, broadcast_to, broadcast_to_forward
from ._nd_axes import input_count
from .base import ND, Built, CoreMLShape, LayerKind


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    input_count(layer, in_shapes, 2)
    target = broadcast_to(layer, tuple(in_shapes[0]), tuple(in_shapes[1]))
    return Built(BroadcastToAttrs(target), {}, [target])


KIND = LayerKind("broadcastToLike", build, broadcast_to_forward, layouts=(ND,))
