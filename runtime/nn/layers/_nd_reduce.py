"""Runtime, neural-network layer: the reduce family of Core ML 3 (``reduceSum``, ``reduceMean``,
... ``reduceLogSumExp``), one build and forward shared by the ten units.

``Reduce*LayerParams`` (NeuralNetwork.proto): ``axes`` (negative values count from the end),
``keepDims`` (reduced axes stay with size 1, else they go), ``reduceAll`` (every axis,
``axes`` ignored). The axes are Core ML's, never the runtime's example axis; reducing every
axis without ``keepDims`` leaves a tensor of shape ``(1,)`` (Core ML has no rank 0). The
reduced axes are moved last and reduced as one row per output value, so each value is
computed the same way whatever the batch (a split batch gives the same bits)::

    reduceSum sum x    reduceMean mean x    reduceProd prod x    reduceMax max x
    reduceMin min x    reduceL1 sum |x|     reduceL2 sqrt(sum x^2)
    reduceSumSquare sum x^2    reduceLogSum log(sum x)
    reduceLogSumExp log(sum e^x), as m + log(sum e^(x - m)) with m = max x (no overflow)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from ._common import where
from ._nd_axes import axes, input_count
from .base import ND, Built, CoreMLShape, LayerKind


def _log_sum_exp(rows: np.ndarray) -> np.ndarray:
    top = rows.max(axis=-1)
    top = np.where(np.isfinite(top), top, 0)
    return top + np.log(np.exp(rows - top[..., None]).sum(axis=-1))


# oneof -> reduction of the last axis
REDUCERS = {
    "reduceSum": lambda r: r.sum(axis=-1),
    "reduceMean": lambda r: r.mean(axis=-1),
    "reduceProd": lambda r: r.prod(axis=-1),
    "reduceMax": lambda r: r.max(axis=-1),
    "reduceMin": lambda r: r.min(axis=-1),
    "reduceL1": lambda r: np.abs(r).sum(axis=-1),
    "reduceL2": lambda r: np.sqrt((r * r).sum(axis=-1)),
    "reduceSumSquare": lambda r: (r * r).sum(axis=-1),
    "reduceLogSum": lambda r: np.log(r.sum(axis=-1)),
    "reduceLogSumExp": _log_sum_exp,
}


@dataclass(frozen=True)
class ReduceAttrs:
    op: str
    axes: tuple[int, ...]  # Core ML axes reduced, sorted
    out_shape: CoreMLShape


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    input_count(layer, in_shapes, 1)
    op = layer.WhichOneof("layer")
    p, shape = getattr(layer, op), tuple(in_shapes[0])
    if p.reduceAll:
        reduced = list(range(len(shape)))
    elif not len(p.axes):
        raise ShapeError(f"{where(layer)}: no axes to reduce and reduceAll is false")
    else:
        reduced = axes(layer, p.axes, len(shape))
    if p.keepDims:
        out = tuple(1 if i in reduced else d for i, d in enumerate(shape))
    else:
        out = tuple(d for i, d in enumerate(shape) if i not in reduced) or (1,)
    return Built(ReduceAttrs(op, tuple(reduced), out), {}, [out])


def forward(attrs: ReduceAttrs, params, xs, keep=False, out=None):
    """The reduced axes moved last, one row per output value, reduced (module docstring)."""
    del params, keep, out
    x = xs[0]
    count = len(attrs.axes)
    rows = np.moveaxis(x, [a + 1 for a in attrs.axes], list(range(-count, 0)))
    rows = np.ascontiguousarray(rows).reshape(*rows.shape[: rows.ndim - count], -1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        y = REDUCERS[attrs.op](rows)
    return [np.ascontiguousarray(y, dtype=x.dtype).reshape(x.shape[0], *attrs.out_shape)], None


def kind(oneof: str) -> LayerKind:
    """The ``LayerKind`` of one reduce layer (each unit makes its own)."""
    return LayerKind(oneof, build, forward, layouts=(ND,))
