"""Runtime, neural-network layer: Core ML ``reshape`` layer: recast each example into
``targetShape``.

``ReshapeLayerParams`` (NeuralNetwork.proto), on rank-5 tensors ``[Seq, 1, C, H, W]``.
``targetShape`` is ``[C', H', W']`` (the sequence length is kept) or ``[Seq', C', H', W']``
(a new sequence length: a Keras ``Reshape((S, D))`` in front of a recurrent layer writes
``[S, D, 1, 1]``). Two element orders:

* ``CHANNEL_FIRST``: flatten every sequence step in ``C, H, W`` order, the steps one after
  the other, and refill ``[Seq', C', H', W']`` in that order (a reshape of the Core ML
  tensor);
* ``CHANNEL_LAST``: flatten every step in ``H, W, C`` order, refill ``[Seq', H', W', C']``
  and permute each step to ``[C', H', W']``.

The leading axes in front of ``[C, H, W]`` count as the sequence (their product is ``Seq``).
In the ``chw`` layout an example's rows hold its steps channels-last, one after the other, so
``CHANNEL_LAST`` is a plain reshape of the array there (it costs nothing), while
``CHANNEL_FIRST`` transposes twice; in ``nd`` it is the other way round. A new sequence
length changes the tensor's leading axes, so the layer reads and writes Core ML shapes in
either layout. No backward (Core ML does not backpropagate through it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from ._common import channel_first, channel_last, where
from .base import CHW, ND, Built, CoreMLShape, LayerKind, Shape, core_ml_shape

CHANNEL_LAST = 1  # ReshapeLayerParams.ReshapeOrder


@dataclass(frozen=True)
class ReshapeAttrs:
    channel_last: bool
    layout: str
    in_shape: CoreMLShape
    out_shape: CoreMLShape  # Core ML shape: the kept leading axes or [Seq', 1], then C', H', W'


def _built(layer, shape: CoreMLShape, layout: str) -> Built:
    target = [int(d) for d in layer.reshape.targetShape]
    if len(target) not in (3, 4) or min(target, default=0) < 1 or len(shape) < 3:
        raise ShapeError(
            f"{where(layer)}: targetShape must be [C, H, W] or [Seq, C, H, W] of positive sizes "
            f"for an input of rank 3 or more; got {list(layer.reshape.targetShape)} for an "
            f"input of shape {list(shape)}"
        )
    lead = shape[:-3] if len(target) == 3 else (target[0], 1)
    out = (*lead, *target[-3:])
    if math.prod(out) != math.prod(shape):
        channels, height, width = shape[-3:]
        steps = math.prod(shape[:-3])
        raise ShapeError(
            f"{where(layer)}: cannot reshape {f'{steps} steps of ' if steps > 1 else ''}"
            f"[C, H, W] = {[channels, height, width]} ({math.prod(shape)} values) into "
            f"{target} ({math.prod(out)} values)"
        )
    attrs = ReshapeAttrs(layer.reshape.mode == CHANNEL_LAST, layout, shape, out)
    if layout == ND:
        return Built(attrs, {}, [out])
    row = (out[-2], out[-1], out[-3])  # (H', W', C'), with leading axes of its own
    return Built(attrs, {}, [row], core_ml_shapes=[out])


def build(layer, in_shapes: list[Shape]) -> Built:
    """The ``chw`` build: rows ``(H, W, C)`` whose Core ML shapes the compiler passes (a bare
    row is read as ``[1, 1, C, H, W]``)."""
    height, width, channels = in_shapes[0]
    shape = core_ml_shape(in_shapes[0]) or (1, 1, channels, height, width)
    return _built(layer, shape, CHW)


def build_nd(layer, in_shapes: list[CoreMLShape]) -> Built:
    return _built(layer, tuple(in_shapes[0]), ND)


def forward(attrs: ReshapeAttrs, params, xs, keep=False, out=None):
    """See the module docstring for the two element orders."""
    del params, keep, out
    x = xs[0]
    channels, height, width = attrs.out_shape[-3:]
    if attrs.layout == CHW:  # rows (N * L, H, W, C), every row a step channels-last
        if attrs.channel_last:
            return [x.reshape(-1, height, width, channels)], None
        steps = np.ascontiguousarray(channel_first(x)).reshape(-1, channels, height, width)
        return [channel_last(steps)], None
    n = x.shape[0]  # nd: (N, *lead, C, H, W)
    if not attrs.channel_last:
        return [x.reshape(n, *attrs.out_shape)], None
    c, h, w = attrs.in_shape[-3:]
    last = x.reshape(-1, c, h, w).transpose(0, 2, 3, 1)  # every step channels-last
    refilled = np.ascontiguousarray(last).reshape(-1, height, width, channels)
    first = np.ascontiguousarray(refilled.transpose(0, 3, 1, 2))
    return [first.reshape(n, *attrs.out_shape)], None


KIND = LayerKind("reshape", build, forward, layouts=(CHW, ND), build_nd=build_nd)
