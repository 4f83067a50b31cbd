"""Runtime, neural-network layer: Core ML ``copy`` layer: ``y = x``.

``CopyLayerParams`` (NeuralNetwork.proto): the one layer allowed to write a blob name that an
earlier layer already produced, overwriting it. Blobs are never mutated in the runtime, so the
copy shares the input array unless the graph hands in a preallocated output.
"""

from __future__ import annotations

from ._common import write_or_return
from .base import CHW, ND, Built, LayerKind, Shape


def build(layer, in_shapes: list[Shape]) -> Built:
    del layer
    return Built(None, {}, [in_shapes[0]])


def forward(attrs, params, xs, keep=False, out=None):
    """``y = x``."""
    del attrs, params, keep
    return [write_or_return(xs[0], out)], None


# elementwise: the same build reads (H, W, C) rows or Core ML shapes alike
KIND = LayerKind("copy", build, forward, layouts=(CHW, ND), build_nd=build)
