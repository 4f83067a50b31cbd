"""Runtime, neural-network layer: Core ML ``reshapeStatic``: the input's values in the shape
``targetShape``.

``ReshapeStaticLayerParams`` (NeuralNetwork.proto, Core ML 3): "Output tensor is the reshaped
version of the input and has shape as specified in the parameter targetShape". The values keep
Core ML's row-major order of the N-D tensor (``numpy.reshape``), so a ``[1, 16, 12, 12]`` ->
``[1, 2304]`` flatten is channel-first, like PyTorch's ``flatten``: the layer runs ``nd``,
where that is a view. ``targetShape`` includes Core ML's own leading axes (the batch of 1 a
converter writes), and its rank becomes the output's rank.

Sizes: converters write every size; a ``-1`` (the size the others leave, as in numpy) is
accepted, ``0`` and any other negative size are refused, as is a target that does not hold
the input's values.
"""

from __future__ import annotations

from ._nd_axes import input_count, target_shape
from ._nd_reshape import ReshapeAttrs, backward, forward
from .base import ND, Built, CoreMLShape, LayerKind


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    input_count(layer, in_shapes, 1)
    shape = tuple(in_shapes[0])
    out = target_shape(layer, layer.reshapeStatic.targetShape, shape)
    return Built(ReshapeAttrs(shape, out), {}, [out])


KIND = LayerKind("reshapeStatic", build, forward, backward, layouts=(ND,))
