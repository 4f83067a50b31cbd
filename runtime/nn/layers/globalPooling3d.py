"""Runtime, neural-network layer: Core ML ``globalPooling3d`` layer: max or average over the whole
of depth, height and width.

``GlobalPooling3DLayerParams`` (NeuralNetwork.proto, Core ML 4): input ``[..., C, D, H, W]``
(rank 5 or more), output ``[..., C, 1, 1, 1]``: ``y[c] = max x[c]`` or ``mean x[c]`` over
``D * H * W`` values ("a special case of Pooling3DLayerParams in which the Kernel is the size
of the input and there is no padding").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import UnsupportedLayerError

from ._common import where
from .base import ND, Built, CoreMLShape, LayerKind
from .pooling3d import TYPES, rank5


@dataclass(frozen=True)
class GlobalPooling3DAttrs:
    type: str


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    shape = rank5(layer, in_shapes)
    kind = TYPES.get(int(layer.globalPooling3d.type))
    if kind is None:
        raise UnsupportedLayerError(
            f"{where(layer)}: unknown pooling type "
            f"{layer.globalPooling3d.type}; expected one of "
            f"{list(TYPES.values())}"
        )
    return Built(GlobalPooling3DAttrs(kind), {}, [(*shape[:-3], 1, 1, 1)])


def forward(attrs: GlobalPooling3DAttrs, params, xs, keep=False, out=None):
    """Max or mean over the last three axes."""
    del params, keep, out
    reduce = np.max if attrs.type == "MAX" else np.mean
    return [np.ascontiguousarray(reduce(xs[0], axis=(-3, -2, -1), keepdims=True))], None


KIND = LayerKind("globalPooling3d", build, forward, layouts=(ND,))
