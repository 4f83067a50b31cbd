"""Runtime, neural-network layer: Core ML ``reshapeLike``: the first input's values in the shape
of the second input.

``ReshapeLikeLayerParams`` (NeuralNetwork.proto, Core ML 3): "the second input is only used to
determine the shape of the output. Values of the second input are not used." Both shapes are
known when the network compiles, so the layer is a view (``runtime.nn.layers._nd_reshape``);
the two tensors must hold the same number of values.
"""

from __future__ import annotations

import math

from updatable.errors import ShapeError

from ._common import where
from ._nd_axes import input_count
from ._nd_reshape import ReshapeAttrs, backward, forward
from .base import ND, Built, CoreMLShape, LayerKind


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    input_count(layer, in_shapes, 2)
    shape, like = tuple(in_shapes[0]), tuple(in_shapes[1])
    if math.prod(shape) != math.prod(like):
        raise ShapeError(
            f"{where(layer)}: cannot reshape a tensor of shape {list(shape)} "
            f"({math.prod(shape)} values) like one of shape {list(like)} "
            f"({math.prod(like)} values)"
        )
    return Built(ReshapeAttrs(shape, like, inputs=2), {}, [like])


KIND = LayerKind("reshapeLike", build, forward, backward, layouts=(ND,))
