"""Runtime, neural-network layer: Core ML ``permute`` layer: reorder the axes ``[Seq, C, H, W]`` of
each example.

``PermuteLayerParams`` (NeuralNetwork.proto): ``axis`` is a permutation of ``[0, 1, 2, 3]``
over ``[Seq, C, H, W]``; the batch axis stays in place. Output axis ``i`` is input axis
``axis[i]``, e.g. ``[0, 3, 1, 2]`` turns ``[Seq, C, H, W]`` into ``[Seq, W, C, H]``. The
runtime keeps ``Seq = 1``, so a permutation may move ``Seq`` only where it swaps it with an
axis of size 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from ._common import channel_first, channel_last, where
from .base import Built, LayerKind, Shape


@dataclass(frozen=True)
class PermuteAttrs:
    axes: tuple[int, int, int, int]  # over (Seq, C, H, W)


def build(layer, in_shapes: list[Shape]) -> Built:
    given = [int(a) for a in layer.permute.axis] or [0, 1, 2, 3]
    if sorted(given) != [0, 1, 2, 3]:
        raise ShapeError(
            f"{where(layer)}: axis must be a permutation of [0, 1, 2, 3] over "
            f"[Seq, C, H, W]; got {list(layer.permute.axis)}"
        )
    axes = (given[0], given[1], given[2], given[3])
    height, width, channels = in_shapes[0]
    dims = (1, channels, height, width)
    out = [dims[a] for a in axes]
    if out[0] != 1:
        raise ShapeError(
            f"{where(layer)}: axis {list(axes)} moves an axis of size {out[0]} into the "
            "sequence position; the runtime runs networks with Seq = 1"
        )
    return Built(PermuteAttrs(axes), {}, [(out[2], out[3], out[1])])


def forward(attrs: PermuteAttrs, params, xs, keep=False, out=None):
    """``y[n] = transpose(x[n] as [Seq, C, H, W], axes)``."""
    del params, keep, out
    x5 = channel_first(xs[0])[:, None]  # (N, Seq=1, C, H, W)
    y5 = x5.transpose(0, *(1 + a for a in attrs.axes))
    return [channel_last(np.reshape(y5, (y5.shape[0], *y5.shape[2:])))], None


KIND = LayerKind(oneof="permute", build=build, forward=forward)
