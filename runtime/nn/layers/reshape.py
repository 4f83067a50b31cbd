"""Runtime, neural-network layer: Core ML ``reshape`` layer: recast each example into
``targetShape``.

``ReshapeLayerParams`` (NeuralNetwork.proto). ``targetShape`` is ``[C, H, W]`` or
``[Seq, C, H, W]`` (the runtime needs ``Seq = 1``). Two element orders:

* ``CHANNEL_FIRST``: flatten the example in ``C, H, W`` order and refill ``[C', H', W']`` in
  that order (``y = x.reshape(C', H', W')`` in Core ML's layout);
* ``CHANNEL_LAST``: flatten in ``H, W, C`` order, refill ``[H', W', C']`` and permute to
  ``[C', H', W']``. That is exactly a reshape of the runtime's channels-last layout, so it
  costs nothing here, while ``CHANNEL_FIRST`` transposes twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from ._common import expect_inputs, refill, where
from .base import Built, LayerKind, Shape

CHANNEL_LAST = 1  # ReshapeLayerParams.ReshapeOrder


@dataclass(frozen=True)
class ReshapeAttrs:
    channel_last: bool
    out_shape: Shape


def build(layer, in_shapes: list[Shape]) -> Built:
    expect_inputs(layer, in_shapes)
    target = [int(d) for d in layer.reshape.targetShape]
    if len(target) == 4:
        if target[0] != 1:
            raise ShapeError(
                f"{where(layer)}: targetShape {target} asks for a sequence of length "
                f"{target[0]}; the runtime runs networks with Seq = 1"
            )
        target = target[1:]
    if len(target) != 3 or min(target) < 1:
        raise ShapeError(
            f"{where(layer)}: targetShape must be [C, H, W] or [1, C, H, W] of positive sizes; "
            f"got {list(layer.reshape.targetShape)}"
        )
    height, width, channels = in_shapes[0]
    if int(np.prod(target)) != height * width * channels:
        raise ShapeError(
            f"{where(layer)}: cannot reshape [C, H, W] = {[channels, height, width]} "
            f"({height * width * channels} values) into {target} ({int(np.prod(target))} values)"
        )
    out_shape = (target[1], target[2], target[0])
    return Built(ReshapeAttrs(layer.reshape.mode == CHANNEL_LAST, out_shape), {}, [out_shape])


def forward(attrs: ReshapeAttrs, params, xs, keep=False, out=None):
    """See the module docstring for the two element orders."""
    del params, keep, out
    x = xs[0]
    n = x.shape[0]
    height, width, channels = attrs.out_shape
    if attrs.channel_last:
        return [x.reshape(n, height, width, channels)], None
    return [refill(x, attrs.out_shape)], None


KIND = LayerKind(oneof="reshape", build=build, forward=forward)
