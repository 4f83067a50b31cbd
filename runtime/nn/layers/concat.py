"""Runtime, neural-network layer: Core ML ``concat`` layer: join the inputs along the channel axis
(axis -3, ``C``).

``ConcatLayerParams`` (NeuralNetwork.proto): all inputs have the same ``H`` and ``W``; the output
has ``C = C1 + ... + Ck``. With ``sequenceConcat`` the join is along the sequence axis, which
the runtime does not model (every blob has ``Seq = 1``), so such layers are refused.

Channels are the last axis of a runtime blob, so the output is a row of channel slices. When
the graph hands in a preallocated output (``out``), producers may already have written their
results into those slices; such inputs are recognised and not copied again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError, UnsupportedLayerError

from ._common import where
from .base import Built, LayerKind, Shape


@dataclass(frozen=True)
class ConcatAttrs:
    offsets: tuple[int, ...]  # channel offset of each input, plus the total at the end


def build(layer, in_shapes: list[Shape]) -> Built:
    if layer.concat.sequenceConcat:
        raise UnsupportedLayerError(
            f"{where(layer)}: sequenceConcat joins along the sequence axis, which the runtime "
            "does not model (Seq = 1); only channel concatenation is supported"
        )
    if len(in_shapes) < 1:
        raise ShapeError(f"{where(layer)}: needs at least one input")
    height, width = in_shapes[0][:2]
    if any(shape[:2] != (height, width) for shape in in_shapes):
        described = [[s[2], s[0], s[1]] for s in in_shapes]
        raise ShapeError(
            f"{where(layer)}: inputs must share H and W to join along C; got [C, H, W] shapes "
            f"{described}"
        )
    offsets = tuple(int(v) for v in np.cumsum([0] + [shape[2] for shape in in_shapes]))
    return Built(ConcatAttrs(offsets), {}, [(height, width, offsets[-1])])


def channel_views(attrs: ConcatAttrs, y: np.ndarray) -> list[np.ndarray]:
    """The slice of the output ``y`` that each input occupies."""
    return [y[..., a:b] for a, b in zip(attrs.offsets[:-1], attrs.offsets[1:], strict=True)]


def _same_memory(a: np.ndarray, b: np.ndarray) -> bool:
    pointer = a.__array_interface__["data"][0]
    same_start = pointer == b.__array_interface__["data"][0]
    return same_start and a.shape == b.shape and a.strides == b.strides


def forward(attrs: ConcatAttrs, params, xs, keep=False, out=None):
    """``y[..., o_i:o_{i+1}] = x_i``."""
    del params, keep
    if out is not None and out[0] is not None:
        y = out[0]
    else:
        y = np.empty((xs[0].shape[0], *xs[0].shape[1:3], attrs.offsets[-1]), np.result_type(*xs))
    for x, view in zip(xs, channel_views(attrs, y), strict=True):
        if not _same_memory(x, view):  # a producer that wrote in place needs no copy
            view[...] = x
    return [y], None


KIND = LayerKind(oneof="concat", build=build, forward=forward)
