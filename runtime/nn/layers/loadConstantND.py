"""Runtime, neural-network layer: Core ML ``loadConstantND``: a constant tensor, with no input.

``LoadConstantNDLayerParams`` (NeuralNetwork.proto, Core ML 3): ``shape`` (any rank, positive
sizes) and ``data`` holding its values in row-major order (float32 or float16). The forward
pass returns one example, ``(1, *shape)``; the graph repeats it to the batch size of the run,
and the compiler knows its value (shapes and indices computed from it are static).
"""

from __future__ import annotations

import math

from updatable.errors import ShapeError

from ._common import weight_array, where
from ._nd_axes import input_count
from .base import ND, Built, CoreMLShape, LayerKind


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    input_count(layer, in_shapes, 0)
    shape = tuple(int(d) for d in layer.loadConstantND.shape)
    if not shape or min(shape) < 1:
        raise ShapeError(f"{where(layer)}: shape must hold positive sizes; got {list(shape)}")
    values = weight_array(layer, "data", layer.loadConstantND.data, math.prod(shape))
    return Built(None, {"data": values.reshape(1, *shape)}, [shape])


def forward(attrs, params, xs, keep=False, out=None):
    """``y = data`` as one example ``(1, *shape)``."""
    del attrs, xs, keep, out
    return [params["data"]], None


KIND = LayerKind("loadConstantND", build, forward, layouts=(ND,))
