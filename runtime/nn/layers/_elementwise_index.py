"""Runtime, neural-network layer: reading index tensors and writing scatters, shared by the gather
and scatter kinds (``gather``, ``scatter``, ``gatherND``, ``scatterND``, ``gatherAlongAxis``,
``scatterAlongAxis``) and ``oneHot``.

Indices arrive as float blobs holding integers (Core ML keeps every blob float). Reading one:
the value is truncated toward zero (``2.0 -> 2``; a fraction is never expected), a negative
index counts from the end of its axis ("negative indexing is supported" in every message of
these kinds), and an index outside ``[-size, size - 1]`` is refused when the prediction runs:
Core ML does not document what it reads there, and the runtime will not read outside the
tensor (``FeatureError`` naming the layer and the index).

Every kind works on flat positions: a gather reads ``data.reshape(-1)[positions]``, a scatter
writes ``updates`` at ``positions`` of the container (:func:`scatter_flat`), in one of the
seven ``ScatterMode`` accumulations.
"""

from __future__ import annotations

import math

import numpy as np

from updatable.errors import FeatureError, UnsupportedLayerError

from ._common import where

# ScatterMode (NeuralNetwork.proto), in enum order
SCATTER_MODES = ("UPDATE", "ADD", "SUB", "MUL", "DIV", "MAX", "MIN")
ACCUMULATE = {
    "ADD": np.add,
    "SUB": np.subtract,
    "MUL": np.multiply,
    "DIV": np.divide,
    "MAX": np.maximum,
    "MIN": np.minimum,
}


def scatter_mode(layer, value: int) -> str:
    """The name of a ``ScatterMode`` value; ``UnsupportedLayerError`` for an unknown one."""
    if not 0 <= int(value) < len(SCATTER_MODES):
        raise UnsupportedLayerError(
            f"{where(layer)}: unknown scatter mode {int(value)}; expected one of "
            + ", ".join(f"{i} (SCATTER_{m})" for i, m in enumerate(SCATTER_MODES))
        )
    return SCATTER_MODES[int(value)]


def integers(values: np.ndarray, sizes, label: str, what: str = "index") -> np.ndarray:
    """Float ``values`` as int64 indices into axes of ``sizes`` (broadcast against them):
    truncated toward zero, negative ones counted from the end.

    Raises:
        FeatureError: naming ``label`` (the layer), for an index outside ``[-size, size - 1]``
            or one that is not finite.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    finite = np.isfinite(values)
    whole = np.trunc(np.where(finite, values, 0)).astype(np.int64)
    wrapped = np.where(whole < 0, whole + sizes, whole)
    bad = ~finite | (wrapped < 0) | (wrapped >= sizes)
    if bad.any():
        at = tuple(int(i) for i in np.argwhere(bad)[0])
        size = int(np.broadcast_to(sizes, bad.shape)[at])
        raise FeatureError(
            f"{label}: {what} {float(values[at])!r} (example {at[0]}) is out of range for an "
            f"axis of size {size}; expected an integer in [{-size}, {size - 1}]"
        )
    return wrapped


def strides(shape) -> tuple[int, ...]:
    """Row-major strides, in elements, of a tensor of ``shape``."""
    return tuple(math.prod(shape[i + 1 :]) for i in range(len(shape)))


def grid(shape, steps) -> np.ndarray:
    """``sum_d arange(shape[d]) * steps[d]``, broadcast to ``shape`` (int64): the flat offset of
    every cell of a grid whose axis ``d`` moves ``steps[d]`` elements."""
    offsets = np.zeros((1,) * len(shape), dtype=np.int64)
    for axis, (size, step) in enumerate(zip(shape, steps, strict=True)):
        if step:
            ramp = np.arange(size, dtype=np.int64) * step
            offsets = offsets + ramp.reshape([-1 if a == axis else 1 for a in range(len(shape))])
    return np.broadcast_to(offsets, tuple(shape))


def gather_flat(data: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """``data``'s values at flat ``positions``, in ``positions``' shape (contiguous)."""
    return np.ascontiguousarray(np.ascontiguousarray(data).reshape(-1)[positions])


def scatter_flat(container: np.ndarray, positions, updates, mode: str) -> np.ndarray:
    """A copy of ``container`` with ``updates`` written at flat ``positions`` (same shape).

    ``UPDATE`` assigns, and where several updates hit one position the last one in row-major
    order wins (the proto's sequential loop); the other modes accumulate every update in that
    order (``ADD``: ``+=``, ``SUB``: ``-=``, ``MUL``: ``*=``, ``DIV``: ``/=``, ``MAX``, ``MIN``).
    """
    out = np.array(container, copy=True, order="C")
    flat = out.reshape(-1)
    where_to = np.asarray(positions, dtype=np.int64).reshape(-1)
    values = np.broadcast_to(updates, np.shape(positions)).reshape(-1).astype(out.dtype)
    if mode == "UPDATE":
        # the last occurrence of each position: the first one in the reversed order
        _, first = np.unique(where_to[::-1], return_index=True)
        keep = len(where_to) - 1 - first
        flat[where_to[keep]] = values[keep]
    else:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ACCUMULATE[mode].at(flat, where_to, values)
    return out
