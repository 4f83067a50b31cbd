"""Runtime, neural-network layer: Core ML ``bias`` layer: ``y = x + b`` with a broadcast bias.

``BiasLayerParams`` (NeuralNetwork.proto): ``shape`` is ``[1]``, ``[C]``, ``[1, H, W]`` or
``[C, H, W]``.
"""

from __future__ import annotations

from ._common import broadcast_parameter, expect_inputs
from .base import Built, LayerKind, Shape


def build(layer, in_shapes: list[Shape]) -> Built:
    expect_inputs(layer, in_shapes)
    p = layer.bias
    params = {"bias": broadcast_parameter(layer, "bias", p.bias, p.shape, in_shapes[0])}
    return Built(None, params, [in_shapes[0]])


def forward(attrs, params, xs, keep=False, out=None):
    """``y = x + bias`` (bias stored ``(H, W, C)``, 1 on broadcast axes)."""
    del attrs, keep, out
    return [xs[0] + params["bias"].astype(xs[0].dtype, copy=False)], None


KIND = LayerKind(oneof="bias", build=build, forward=forward)
