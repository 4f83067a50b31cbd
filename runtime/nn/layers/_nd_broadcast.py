"""Runtime, neural-network layer: numpy-style broadcasting between ``nd`` blobs, shared by the
rank-5 elementwise kinds on N-D tensors, and the build and forward of the nine broadcastable
arithmetic kinds (``addBroadcastable`` ... ``floorDivBroadcastable``).

Shapes align on their last axis; along each axis the sizes are equal or one of them is 1,
which stretches (numpy's rule, which NeuralNetwork.proto names for the ``*Broadcastable``
layers: "conventional numpy-like broadcasting"). An ``nd`` array carries the example axis
first, so an input of lower rank gets its missing axes *after* that axis (:func:`aligned`),
never in front of it.

The arithmetic kinds (``*BroadcastableLayerParams``, NeuralNetwork.proto, Core ML 3) take 2
inputs and apply numpy's ufunc: ``add``, ``subtract``, ``multiply``, ``divide`` (true
division), ``maximum``, ``minimum``, ``power``, ``mod`` (the remainder takes the sign of the
divisor, ``a - floor(a / b) b``) and ``floor_divide`` (``floor(a / b)``, consistent with
``mod``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from ._common import where
from ._nd_axes import input_count
from .base import ND, Built, CoreMLShape, LayerKind


def broadcast_shape(layer, shapes: list[CoreMLShape]) -> CoreMLShape:
    """The shape every input broadcasts to.

    Raises:
        ShapeError: naming the layer and the shapes, when two sizes of an axis differ and
            neither is 1.
    """
    rank = max(len(s) for s in shapes)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    out = []
    for sizes in zip(*padded, strict=True):
        wide = {d for d in sizes if d != 1}
        if len(wide) > 1:
            raise ShapeError(
                f"{where(layer)}: inputs of shapes {[list(s) for s in shapes]} do not "
                "broadcast: aligned on their last axis, each axis needs equal sizes or 1"
            )
        out.append(wide.pop() if wide else 1)
    return tuple(out)


def aligned(x: np.ndarray, rank: int) -> np.ndarray:
    """``x`` (``(N, *shape)``) viewed with ``rank`` tensor axes: 1s inserted after ``N``."""
    missing = rank - (x.ndim - 1)
    return x.reshape(x.shape[0], *([1] * missing), *x.shape[1:]) if missing else x


# oneof -> the numpy ufunc of a broadcastable arithmetic layer (NeuralNetwork.proto, Core ML 3)
UFUNCS = {
    "addBroadcastable": np.add,
    "subtractBroadcastable": np.subtract,
    "multiplyBroadcastable": np.multiply,
    "divideBroadcastable": np.divide,
    "maxBroadcastable": np.maximum,
    "minBroadcastable": np.minimum,
    "powBroadcastable": np.power,
    "modBroadcastable": np.mod,
    "floorDivBroadcastable": np.floor_divide,
}


@dataclass(frozen=True)
class BroadcastAttrs:
    op: str
    rank: int  # the output's rank; inputs are aligned to it


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    """Two inputs; the output has their broadcast shape."""
    input_count(layer, in_shapes, 2)
    out = broadcast_shape(layer, [tuple(s) for s in in_shapes])
    return Built(BroadcastAttrs(layer.WhichOneof("layer"), len(out)), {}, [out])


def forward(attrs: BroadcastAttrs, params, xs, keep=False, out=None):
    """``y = ufunc(a, b)`` with numpy's broadcasting behind the example axis; division by 0
    gives inf or nan as in IEEE arithmetic."""
    del params, keep, out
    a, b = (aligned(x, attrs.rank) for x in xs)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        y = UFUNCS[attrs.op](a, b)
    return [np.ascontiguousarray(y, dtype=np.result_type(*xs))], None


def kind(oneof: str) -> LayerKind:
    """The ``LayerKind`` of one broadcastable arithmetic layer (each unit makes its own)."""
    return LayerKind(oneof, build, forward, layouts=(ND,))
