"""Runtime, neural-network layer: Core ML ``scale`` layer: ``y = scale * x (+ bias)`` with
broadcast parameters.

``ScaleLayerParams`` (NeuralNetwork.proto): ``shapeScale`` and ``shapeBias`` are each ``[1]``,
``[C]``, ``[1, H, W]`` or ``[C, H, W]``; the bias is added only when ``hasBias``. The input
has rank 3 or more (leading axes a batch). Both layouts: the parameters are stored to
broadcast against the blob, ``(H, W, C)`` in ``chw`` and ``(C, H, W)`` in ``nd``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ._common import broadcast_parameter, broadcast_parameter_nd
from .base import CHW, ND, Built, CoreMLShape, LayerKind


@dataclass(frozen=True)
class ScaleAttrs:
    has_bias: bool


def build(layer, in_shapes: Sequence[CoreMLShape], parameter=broadcast_parameter) -> Built:
    p = layer.scale
    params = {"scale": parameter(layer, "scale", p.scale, p.shapeScale, in_shapes[0])}
    if p.hasBias:
        params["bias"] = parameter(layer, "bias", p.bias, p.shapeBias, in_shapes[0])
    return Built(ScaleAttrs(bool(p.hasBias)), params, [in_shapes[0]])


def build_nd(layer, in_shapes: list[CoreMLShape]) -> Built:
    return build(layer, in_shapes, broadcast_parameter_nd)


def forward(attrs: ScaleAttrs, params, xs, keep=False, out=None):
    """``y = scale * x + bias`` (parameters stored ``(H, W, C)``, 1 on broadcast axes)."""
    del keep, out
    x = xs[0]
    y = x * params["scale"].astype(x.dtype, copy=False)
    if attrs.has_bias:
        y += params["bias"].astype(x.dtype, copy=False)
    return [y], None


KIND = LayerKind("scale", build, forward, layouts=(CHW, ND), build_nd=build_nd)
