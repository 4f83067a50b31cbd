"""Runtime, neural-network layer: Core ML ``padding`` layer: pad H and W with a constant, a
reflection or a replication.

``PaddingLayerParams`` (NeuralNetwork.proto): ``paddingAmounts.borderAmounts`` is ``[H, W]``,
each ``(startEdgeSize, endEdgeSize)``; ``H' = top + H + bottom``, ``W' = left + W + right``.
``reflection`` mirrors without repeating the edge (``[1 2 3]`` padded by 2 on the left gives
``3 2 1 2 3``), so its amounts must be smaller than the padded size; ``replication`` repeats
the edge value; ``constant`` fills ``value``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError, UnsupportedLayerError

from ._common import expect_inputs, where
from .base import Built, LayerKind, Shape

NUMPY_MODE = {"constant": "constant", "reflection": "reflect", "replication": "edge"}


@dataclass(frozen=True)
class PaddingAttrs:
    mode: str  # a key of NUMPY_MODE
    value: float
    pads: tuple[tuple[int, int], tuple[int, int]]  # ((top, bottom), (left, right))


def border_amounts(layer, border, what: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """``BorderAmounts`` as ``((top, bottom), (left, right))``; absent means no border."""
    edges = list(border.borderAmounts)
    if not edges:
        return (0, 0), (0, 0)
    if len(edges) != 2:
        raise ShapeError(f"{where(layer)}: {what} must list 2 edge pairs [H, W]; got {len(edges)}")
    return tuple((int(e.startEdgeSize), int(e.endEdgeSize)) for e in edges)  # type: ignore[return-value]


def build(layer, in_shapes: list[Shape]) -> Built:
    expect_inputs(layer, in_shapes)
    params = layer.padding
    mode = params.WhichOneof("PaddingType")
    if mode is None:
        raise UnsupportedLayerError(
            f"{where(layer)}: no padding type set; expected one of {sorted(NUMPY_MODE)}"
        )
    pads = border_amounts(layer, params.paddingAmounts, "paddingAmounts")
    height, width, channels = in_shapes[0]
    if mode == "reflection" and (max(pads[0]) >= height or max(pads[1]) >= width):
        raise ShapeError(
            f"{where(layer)}: reflection padding (top, bottom) = {pads[0]}, (left, right) = "
            f"{pads[1]} must be smaller than the input's H = {height} and W = {width}"
        )
    value = float(params.constant.value) if mode == "constant" else 0.0
    out_shape = (height + sum(pads[0]), width + sum(pads[1]), channels)
    return Built(PaddingAttrs(mode, value, pads), {}, [out_shape])


def forward(attrs: PaddingAttrs, params, xs, keep=False, out=None):
    """Pad axes H and W of ``(N, H, W, C)``; see the module docstring for the modes."""
    del params, keep, out
    widths = ((0, 0), *attrs.pads, (0, 0))
    mode = NUMPY_MODE[attrs.mode]
    if mode == "constant":
        return [np.pad(xs[0], widths, mode="constant", constant_values=attrs.value)], None
    return [np.pad(xs[0], widths, mode=mode)], None


KIND = LayerKind(oneof="padding", build=build, forward=forward)
