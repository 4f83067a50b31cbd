"""Runtime, neural-network layer: Core ML ``splitND``: cut a tensor into pieces along one axis.

``SplitNDLayerParams`` (NeuralNetwork.proto, Core ML 3): ``axis`` (negative values count from
the end); ``splitSizes``, when given, are the pieces' sizes (they must add up to the axis),
else ``numSplits`` equal pieces (the axis must divide evenly). One output per piece, at least
2, each of the input's rank. Axis 0 is Core ML's own first axis (a converter splits the
stacked q, k, v of attention there), not the runtime's example axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from ._common import where
from ._nd_axes import array_axis, axis, input_count
from .base import ND, Built, CoreMLShape, LayerKind


@dataclass(frozen=True)
class SplitNDAttrs:
    axis: int  # array axis
    sizes: tuple[int, ...]


def _sizes(layer, size: int) -> tuple[int, ...]:
    p = layer.splitND
    if len(p.splitSizes):
        sizes = tuple(int(s) for s in p.splitSizes)
        if sum(sizes) != size or min(sizes) < 1:
            raise ShapeError(
                f"{where(layer)}: splitSizes {list(sizes)} must be positive and add up to "
                f"{size}, the size of the split axis"
            )
        return sizes
    count = int(p.numSplits)
    if count < 1 or size % count:
        raise ShapeError(
            f"{where(layer)}: numSplits = {count} does not divide the split axis of size {size} "
            "into equal pieces; give splitSizes instead"
        )
    return (size // count,) * count


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    input_count(layer, in_shapes, 1)
    shape = tuple(in_shapes[0])
    at = axis(layer, layer.splitND.axis, len(shape))
    sizes = _sizes(layer, shape[at])
    if len(sizes) != len(layer.output):
        raise ShapeError(
            f"{where(layer)}: makes {len(sizes)} pieces but names {len(layer.output)} outputs"
        )
    outs = [(*shape[:at], size, *shape[at + 1 :]) for size in sizes]
    return Built(SplitNDAttrs(array_axis(at), sizes), {}, outs)


def forward(attrs: SplitNDAttrs, params, xs, keep=False, out=None):
    """``numpy.split`` at the running sums of the sizes, each piece contiguous."""
    del params, keep, out
    cuts = np.cumsum(attrs.sizes)[:-1]
    return [np.ascontiguousarray(p) for p in np.split(xs[0], cuts, axis=attrs.axis)], None


def backward(attrs: SplitNDAttrs, params, cache, dys, *, input_grads=True, param_grads=True):
    """``dx`` = the pieces' gradients joined back (zeros for a piece nobody read)."""
    del params, cache, param_grads
    if not input_grads:
        return [None], {}
    reference = next(d for d in dys if d is not None)
    parts = []
    for dy, size in zip(dys, attrs.sizes, strict=True):
        if dy is None:
            shape = list(reference.shape)
            shape[attrs.axis] = size
            dy = np.zeros(shape, reference.dtype)
        parts.append(dy)
    return [np.concatenate(parts, axis=attrs.axis)], {}


KIND = LayerKind("splitND", build, forward, backward, layouts=(ND,))
