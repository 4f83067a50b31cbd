"""Runtime, neural-network layer: Core ML ``reverseSeq``: reverse the first ``L_b`` entries of
every batch entry ``b`` along a sequence axis.

``ReverseSeqLayerParams`` (NeuralNetwork.proto): inputs ``data`` and ``seq_lengths`` (rank 1,
``(B,)`` with ``B = data.shape[batchAxis]``); for each ``b``, the slice ``data[b]`` (along
``batchAxis``) has its first ``seq_lengths[b]`` entries along ``sequenceAxis`` reversed and
the rest unchanged; the output has the input's shape. Axes count from the end when negative
(read so: the proto says only "batch axis has to be strictly less than seq_axis", which is
checked on the normalised axes).

``seq_lengths`` values are read as C converts a float to an integer (truncated towards
zero); a length below 0 or above the sequence's size is refused with the layer's name and
the value (the proto gives such lengths no meaning; TensorFlow's ``reverse_sequence``, which
this layer mirrors, refuses them too). No backward: Core ML does not backpropagate through
it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import FeatureError, ShapeError

from ._common import where
from ._nd_axes import axis, input_count
from .base import ND, Built, CoreMLShape, LayerKind


@dataclass(frozen=True)
class ReverseSeqAttrs:
    name: str  # "layer 'name' (reverseSeq)", for errors at run time
    batch_axis: int  # Core ML axes, normalised
    sequence_axis: int


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    p = layer.reverseSeq
    input_count(layer, in_shapes, 2)
    shape, lengths = tuple(in_shapes[0]), tuple(in_shapes[1])
    batch = axis(layer, p.batchAxis, len(shape), "batchAxis")
    sequence = axis(layer, p.sequenceAxis, len(shape), "sequenceAxis")
    if batch >= sequence:
        raise ShapeError(
            f"{where(layer)}: batchAxis ({p.batchAxis}) must come before sequenceAxis "
            f"({p.sequenceAxis}) in the input of rank {len(shape)}"
        )
    if lengths != (shape[batch],):
        raise ShapeError(
            f"{where(layer)}: seq_lengths must have shape [{shape[batch]}] (one length per "
            f"entry of batch axis {batch} of the data {list(shape)}); got {list(lengths)}"
        )
    return Built(ReverseSeqAttrs(where(layer), batch, sequence), {}, [shape])


def forward(attrs: ReverseSeqAttrs, params, xs, keep=False, out=None):
    """``y[b, :L_b] = x[b, L_b - 1 :: -1]``, ``y[b, L_b:] = x[b, L_b:]`` along the axes."""
    del params, keep, out
    x, lengths = xs
    steps = x.shape[1 + attrs.sequence_axis]
    counts = _lengths(attrs, lengths, steps)  # (N, B)
    moved = np.moveaxis(x, (1 + attrs.batch_axis, 1 + attrs.sequence_axis), (1, 2))
    positions = np.arange(steps)
    source = np.where(
        positions < counts[..., None], counts[..., None] - 1 - positions, positions
    )  # (N, B, S): which entry lands at each position
    source = source.reshape(*source.shape, *([1] * (moved.ndim - 3)))
    taken = np.take_along_axis(moved, np.broadcast_to(source, moved.shape), axis=2)
    restored = np.moveaxis(taken, (1, 2), (1 + attrs.batch_axis, 1 + attrs.sequence_axis))
    return [np.ascontiguousarray(restored)], None


def _lengths(attrs: ReverseSeqAttrs, lengths: np.ndarray, steps: int) -> np.ndarray:
    flat = lengths.reshape(lengths.shape[0], -1)
    bad = ~((flat > -1) & (flat < steps + 1))  # NaN fails both comparisons
    if bad.any():
        raise FeatureError(
            f"{attrs.name}: sequence length {float(flat[bad][0])!r} is not a length of the "
            f"sequence axis; expected integers in [0, {steps}]"
        )
    return np.trunc(flat).astype(np.intp)


KIND = LayerKind("reverseSeq", build, forward, layouts=(ND,))
