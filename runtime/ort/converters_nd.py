"""Runtime, ONNX layer: ONNX converters for the N-D shape kinds converters write around a
classifier head (``reshapeStatic``, ``flattenTo2D``, ``reduceMean``).

The export holds every blob as ``(N, C, H, W)``: a Core ML tensor of rank ``r`` is read from
its last three axes, right-aligned, and every axis in front of those must be 1 (as for
``squeeze`` / ``expandDims`` in :mod:`runtime.ort.converters_tensor`). Converters take the
input's Core ML ``rank`` and return the output's ``(C, H, W)``.
"""

from __future__ import annotations

import math

from runtime.ort.onnx_graph import CHW, GraphBuilder
from updatable.errors import UnsupportedLayerError


def _tensor(chw, rank: int) -> list[int]:
    """The Core ML shape of a blob of ``rank`` held as ``chw``."""
    chw = list(chw)
    return [1] * (rank - 3) + chw if rank >= 3 else chw[3 - rank :]


def _held(layer, out, count: int) -> list[int]:
    if any(d != 1 for d in out[:-3]) or math.prod(out) != count:
        raise UnsupportedLayerError(
            f"layer '{layer.name}' makes a tensor of shape {list(out)}; the ONNX export holds "
            f"at most [C, H, W] per example ({count} values here)"
        )
    return [1, 1, 1, *out][-3:]


def reshape_static(g: GraphBuilder, layer, xs, shapes, ys, *, rank: int = 5) -> list[CHW]:
    """reshapeStatic / flattenTo2D: the values keep their C order; the new Core ML shape (the
    target, or ``[prod(x[:axis]), prod(x[axis:])]`` of the input right-aligned to ``rank``) is
    read from its last three axes, as for :func:`squeeze_or_expand`."""
    if layer.WhichOneof("layer") == "reshapeStatic":
        out = [int(d) for d in layer.reshapeStatic.targetShape]
    else:
        tensor = _tensor(shapes[0], rank)
        axis = layer.flattenTo2D.axis + (rank if layer.flattenTo2D.axis < 0 else 0)
        out = [math.prod(tensor[:axis]), math.prod(tensor[axis:])]
    out_chw = _held(layer, out, math.prod(shapes[0]))
    g.reshape(xs[0], [0, *out_chw], ys[0])
    return [(out_chw[0], out_chw[1], out_chw[2])]


def reduce_mean(g: GraphBuilder, layer, xs, shapes, ys, *, rank: int = 5) -> list[CHW]:
    """Mean over ``axes`` (negative from the end; all with ``reduceAll``), the reduced axes
    kept as 1 with ``keepDims`` and dropped otherwise. Axes in front of the last three hold
    1 value, so only the held ones are reduced (ONNX axis = Core ML axis - rank + 4)."""
    params = layer.reduceMean
    tensor = _tensor(shapes[0], rank)
    axes = range(rank) if params.reduceAll else sorted({a % rank for a in params.axes})
    held = [a - rank + 4 for a in axes if a >= rank - 3]
    x = g.node("ReduceMean", [xs[0]], axes=held, keepdims=1) if held else xs[0]
    if params.keepDims and not params.reduceAll:
        out = [1 if a in axes else d for a, d in enumerate(tensor)]
    else:
        out = [d for a, d in enumerate(tensor) if a not in axes] or [1]
    out_chw = _held(layer, out, math.prod(out))
    g.reshape(x, [0, *out_chw], ys[0])
    return [(out_chw[0], out_chw[1], out_chw[2])]
