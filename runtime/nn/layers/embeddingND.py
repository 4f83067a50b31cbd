"""Runtime, neural-network layer: Core ML ``embeddingND``: a lookup table for ids of N-D
networks.

``EmbeddingNDLayerParams`` (NeuralNetwork.proto): ``weights`` ``[embeddingSize,
vocabSize]``, optional ``bias`` ``[embeddingSize]``; ``y = W[:, x] + b`` for every id ``x``.
The input has rank 2 to 5 with a last axis of 1, ``(x1, ..., 1)``; the output replaces that
axis with the vectors, ``(x1, ..., embeddingSize)``. Converted PyTorch models feed it
``[1, T, 1]`` (an ``nn.Embedding`` on token ids declared FLOAT32, after ``expandDims(-1)``).
Ids are read as ``runtime.nn.layers._sequence_embedding`` says (truncated; outside ``[0,
vocabSize - 1]`` refused). No backward: Core ML does not backpropagate through it.
"""

from __future__ import annotations

from updatable.errors import ShapeError

from ._common import where
from ._nd_axes import input_count
from ._sequence_embedding import EmbeddingAttrs, lookup, table
from .base import ND, Built, CoreMLShape, LayerKind


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    p = layer.embeddingND
    input_count(layer, in_shapes, 1)
    shape = tuple(in_shapes[0])
    if not 2 <= len(shape) <= 5 or shape[-1] != 1:
        raise ShapeError(
            f"{where(layer)}: the input must have rank 2 to 5 and a last axis of size 1; got "
            f"{list(shape)}"
        )
    sizes = (int(p.vocabSize), int(p.embeddingSize))
    params = table(layer, p.weights, p.bias, sizes, bool(p.hasBias))
    out = (*shape[:-1], sizes[1])
    return Built(EmbeddingAttrs(where(layer), sizes[0], out), params, [out])


def forward(attrs: EmbeddingAttrs, params, xs, keep=False, out=None):
    """``y = W[:, x] + b`` per id."""
    del keep, out
    return [lookup(attrs, params, xs[0])], None


KIND = LayerKind("embeddingND", build, forward, layouts=(ND,))
