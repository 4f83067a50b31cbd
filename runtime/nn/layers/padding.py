"""Runtime, neural-network layer: Core ML ``padding`` layer: pad H and W with a constant, a
reflection or a replication.

``PaddingLayerParams`` (NeuralNetwork.proto): input of rank 2 or more, its last two axes H and
W, the axes before them batch; ``paddingAmounts.borderAmounts`` is ``[H, W]``, each
``(startEdgeSize, endEdgeSize)``; ``H' = top + H + bottom``, ``W' = left + W + right``. Runs
on ``chw`` blobs (rank 3 or more) and on ``nd`` blobs (rank 2: converters pad ``[N, L]``
tensors with it).
``reflection`` mirrors without repeating the edge (``[1 2 3]`` padded by 2 on the left gives
``3 2 1 2 3``), so its amounts must be smaller than the padded size; ``replication`` repeats
the edge value; ``constant`` fills ``value``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from updatable.errors import ShapeError, UnsupportedLayerError

from ._common import where
from .base import CHW, ND, Built, LayerKind, Shape

NUMPY_MODE: dict[str, Literal["constant", "reflect", "edge"]] = {
    "constant": "constant",
    "reflection": "reflect",
    "replication": "edge",
}


@dataclass(frozen=True)
class PaddingAttrs:
    mode: str  # a key of NUMPY_MODE
    value: float
    pads: tuple[tuple[int, int], tuple[int, int]]  # ((top, bottom), (left, right))
    axes: tuple[int, int] = (1, 2)  # array axes of H and W: (1, 2) in chw, (-2, -1) in nd


def border_amounts(layer, border, what: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """``BorderAmounts`` as ``((top, bottom), (left, right))``; absent means no border."""
    edges = list(border.borderAmounts)
    if not edges:
        return (0, 0), (0, 0)
    if len(edges) != 2:
        raise ShapeError(f"{where(layer)}: {what} must list 2 edge pairs [H, W]; got {len(edges)}")
    return tuple((int(e.startEdgeSize), int(e.endEdgeSize)) for e in edges)  # type: ignore[return-value]


def _build(layer, height: int, width: int) -> tuple[PaddingAttrs, tuple[int, int]]:
    params = layer.padding
    mode = params.WhichOneof("PaddingType")
    if mode is None:
        raise UnsupportedLayerError(
            f"{where(layer)}: no padding type set; expected one of {sorted(NUMPY_MODE)}"
        )
    pads = border_amounts(layer, params.paddingAmounts, "paddingAmounts")
    if mode == "reflection" and (max(pads[0]) >= height or max(pads[1]) >= width):
        raise ShapeError(
            f"{where(layer)}: reflection padding (top, bottom) = {pads[0]}, (left, right) = "
            f"{pads[1]} must be smaller than the input's H = {height} and W = {width}"
        )
    value = float(params.constant.value) if mode == "constant" else 0.0
    return PaddingAttrs(mode, value, pads), (height + sum(pads[0]), width + sum(pads[1]))


def build(layer, in_shapes: list[Shape]) -> Built:
    height, width, channels = in_shapes[0]
    attrs, (out_h, out_w) = _build(layer, height, width)
    return Built(attrs, {}, [(out_h, out_w, channels)])


def build_nd(layer, in_shapes) -> Built:
    shape = tuple(in_shapes[0])
    if len(shape) < 2:
        raise ShapeError(
            f"{where(layer)}: pads a tensor of rank 2 or more; got shape {list(shape)}"
        )
    attrs, out_hw = _build(layer, *shape[-2:])
    return Built(replace(attrs, axes=(-2, -1)), {}, [(*shape[:-2], *out_hw)])


def forward(attrs: PaddingAttrs, params, xs, keep=False, out=None):
    """Pad axes H and W (of ``(N, H, W, C)`` or ``(N, ..., H, W)``); modes in the module
    docstring."""
    del params, keep, out
    widths = [(0, 0)] * xs[0].ndim
    widths[attrs.axes[0]], widths[attrs.axes[1]] = attrs.pads
    mode = NUMPY_MODE[attrs.mode]
    if mode == "constant":
        return [np.pad(xs[0], widths, mode="constant", constant_values=attrs.value)], None
    return [np.pad(xs[0], widths, mode=mode)], None


KIND = LayerKind("padding", build, forward, layouts=(CHW, ND), build_nd=build_nd)
