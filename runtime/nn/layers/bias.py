"""Runtime, neural-network layer: Core ML ``bias`` layer: ``y = x + b`` with a broadcast bias.

``BiasLayerParams`` (NeuralNetwork.proto): ``shape`` is ``[1]``, ``[C]``, ``[1, H, W]`` or
``[C, H, W]``; the input has rank 3 or more. Both layouts: the bias is stored to broadcast
against the blob, ``(H, W, C)`` in ``chw`` and ``(C, H, W)`` in ``nd``.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._common import broadcast_parameter, broadcast_parameter_nd
from .base import CHW, ND, Built, CoreMLShape, LayerKind


def build(layer, in_shapes: Sequence[CoreMLShape], parameter=broadcast_parameter) -> Built:
    p = layer.bias
    params = {"bias": parameter(layer, "bias", p.bias, p.shape, in_shapes[0])}
    return Built(None, params, [in_shapes[0]])


def build_nd(layer, in_shapes: list[CoreMLShape]) -> Built:
    return build(layer, in_shapes, broadcast_parameter_nd)


def forward(attrs, params, xs, keep=False, out=None):
    """``y = x + bias`` (bias stored ``(H, W, C)``, 1 on broadcast axes)."""
    del attrs, keep, out
    return [xs[0] + params["bias"].astype(xs[0].dtype, copy=False)], None


KIND = LayerKind("bias", build, forward, layouts=(CHW, ND), build_nd=build_nd)
