"""Runtime, neural-network layer: Core ML ``scale`` layer: ``y = scale * x (+ bias)`` with
broadcast parameters.

``ScaleLayerParams`` (NeuralNetwork.proto): ``shapeScale`` and ``shapeBias`` are each ``[1]``,
``[C]``, ``[1, H, W]`` or ``[C, H, W]``; the bias is added only when ``hasBias``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._common import broadcast_parameter, expect_inputs
from .base import Built, LayerKind, Shape


@dataclass(frozen=True)
class ScaleAttrs:
    has_bias: bool


def build(layer, in_shapes: list[Shape]) -> Built:
    expect_inputs(layer, in_shapes)
    p = layer.scale
    params = {"scale": broadcast_parameter(layer, "scale", p.scale, p.shapeScale, in_shapes[0])}
    if p.hasBias:
        params["bias"] = broadcast_parameter(layer, "bias", p.bias, p.shapeBias, in_shapes[0])
    return Built(ScaleAttrs(bool(p.hasBias)), params, [in_shapes[0]])


def forward(attrs: ScaleAttrs, params, xs, keep=False, out=None):
    """``y = scale * x + bias`` (parameters stored ``(H, W, C)``, 1 on broadcast axes)."""
    del keep, out
    x = xs[0]
    y = x * params["scale"].astype(x.dtype, copy=False)
    if attrs.has_bias:
        y += params["bias"].astype(x.dtype, copy=False)
    return [y], None


KIND = LayerKind(oneof="scale", build=build, forward=forward)
