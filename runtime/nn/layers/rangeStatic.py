"""Runtime, neural-network layer: Core ML ``rangeStatic``: evenly spaced values
(``numpy.arange(start, end, step)``), with no input.

``RangeStaticLayerParams`` (NeuralNetwork.proto, Core ML 3): ``endValue``, ``startValue`` and
``stepSizeValue``; the output is a rank-1 tensor ``[start, start + step, ..]`` stopping before
``end``. The rules (step not 0, a non-empty range) are in
``runtime.nn.layers._elementwise_range``. Like every kind without inputs, forward makes one
example and the graph repeats it to the batch.
"""

from __future__ import annotations

import numpy as np

from ._elementwise_range import RangeAttrs, arange, range_values
from ._nd_axes import input_count
from .base import ND, Built, CoreMLShape, LayerKind


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    input_count(layer, in_shapes, 0)
    p = layer.rangeStatic
    attrs = arange(layer, p.startValue, p.endValue, p.stepSizeValue)
    return Built(attrs, {}, [(attrs.count,)])


def forward(attrs: RangeAttrs, params, xs, keep=False, out=None):
    """One example ``(1, count)`` (float32, the blobs' type)."""
    del params, xs, keep, out
    return [range_values(attrs, np.float32)[None]], None


KIND = LayerKind("rangeStatic", build, forward, layouts=(ND,))
