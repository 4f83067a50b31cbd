"""Runtime, neural-network layer: Core ML ``embedding``: a lookup table for ids of rank-5 (or
rank-4) networks.

``EmbeddingLayerParams`` (NeuralNetwork.proto): ``weights`` ``[outputChannels, inputDim]``,
optional ``bias`` ``[outputChannels]``; ``y = W[:, x] + b`` for every id ``x``. The input has
rank 4 ``(x1, 1, 1, 1)`` or rank 5 ``(x1, x2, 1, 1, 1)`` (the sequence and batch axes of a
Keras ``Embedding`` in front of a recurrent layer); the output keeps the rank with the
vectors on the channel axis: ``(x1, outputChannels, 1, 1)`` / ``(x1, x2, outputChannels, 1,
1)``. Ids are read as ``runtime.nn.layers._sequence_embedding`` says (truncated; outside
``[0, inputDim - 1]`` refused). No backward: Core ML does not backpropagate through it.
"""

from __future__ import annotations

from updatable.errors import ShapeError

from ._common import where
from ._nd_axes import input_count
from ._sequence_embedding import EmbeddingAttrs, lookup, table
from .base import ND, Built, CoreMLShape, LayerKind


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    p = layer.embedding
    input_count(layer, in_shapes, 1)
    shape = tuple(in_shapes[0])
    if len(shape) not in (4, 5) or shape[-3:] != (1, 1, 1):
        raise ShapeError(
            f"{where(layer)}: the input must have rank 4 (x1, 1, 1, 1) or rank 5 (x1, x2, 1, "
            f"1, 1); got {list(shape)}"
        )
    sizes = (int(p.inputDim), int(p.outputChannels))
    params = table(layer, p.weights, p.bias, sizes, bool(p.hasBias))
    out = (*shape[:-3], sizes[1], 1, 1)
    return Built(EmbeddingAttrs(where(layer), sizes[0], out), params, [out])


def forward(attrs: EmbeddingAttrs, params, xs, keep=False, out=None):
    """``y = W[:, x] + b`` per id."""
    del keep, out
    return [lookup(attrs, params, xs[0])], None


KIND = LayerKind("embedding", build, forward, layouts=(ND,))
