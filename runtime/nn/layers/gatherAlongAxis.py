"""Runtime, neural-network layer: Core ML ``gatherAlongAxis``: values of ``data`` at indices along
one axis (``numpy.take_along_axis``).

``GatherAlongAxisLayerParams`` (NeuralNetwork.proto, Core ML 3): 2 inputs, ``data`` and
``indices`` of the same rank, whose shapes match except along ``axis``; for ``axis = 0``::

    output[i, j, .., k] = data[indices[i, j, .., k], j, .., k]

The output has the shape of ``indices``. Negative ``axis`` and indices count from the end;
indices are read as ``runtime.nn.layers._elementwise_index`` says.
"""

from __future__ import annotations

from ._common import where
from ._elementwise_along import AlongAttrs, check_indices, positions
from ._elementwise_index import gather_flat
from ._nd_axes import axis, input_count
from .base import ND, Built, CoreMLShape, LayerKind


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    input_count(layer, in_shapes, 2)
    data, indices = (tuple(s) for s in in_shapes)
    a = axis(layer, layer.gatherAlongAxis.axis, len(data))
    check_indices(layer, data, indices, a, "indices")
    return Built(AlongAttrs(where(layer), data, indices, a), {}, [indices])


def forward(attrs: AlongAttrs, params, xs, keep=False, out=None):
    """``y[n] = take_along_axis(data[n], indices[n], axis)`` for every example ``n``."""
    del params, keep, out
    data, indices = xs
    return [gather_flat(data, positions(attrs, indices))], None


KIND = LayerKind("gatherAlongAxis", build, forward, layouts=(ND,))
