"""Runtime, neural-network layer: Core ML ``rangeDynamic``: evenly spaced values
(``numpy.arange(start, end, step)``) with bounds read from inputs.

``RangeDynamicLayerParams`` (NeuralNetwork.proto, Core ML 3): 1 to 3 inputs, each holding one
value: the first is ``end``, the second (if present) ``start``, replacing the parameter
``startValue``, the third ``step``, replacing ``stepSizeValue``. The output is a rank-1 tensor.
Its length depends on those values, so they must be known when the model loads (computed from
constants or ``getShape``, see ``runtime.nn.layers._elementwise_values``); the range rules are
in ``runtime.nn.layers._elementwise_range``. A layer without inputs has no end and is refused.
"""

from __future__ import annotations

import numpy as np

from ._elementwise_range import RangeAttrs, arange, range_values
from ._elementwise_values import scalar_from
from ._nd_axes import input_count
from .base import ND, Built, CoreMLShape, LayerKind

NAMES = ("first input (end)", "second input (start)", "third input (step)")


def build(layer, in_shapes: list[CoreMLShape], values) -> Built:
    input_count(layer, in_shapes, 1, 3)
    p = layer.rangeDynamic
    read = [scalar_from(layer, values[i], NAMES[i]) for i in range(len(in_shapes))]
    end, start, step = read[0], p.startValue, p.stepSizeValue
    if len(read) > 1:
        start = read[1]
    if len(read) > 2:
        step = read[2]
    attrs = arange(layer, start, end, step)
    return Built(attrs, {}, [(attrs.count,)])


def forward(attrs: RangeAttrs, params, xs, keep=False, out=None):
    """The range, once per example, in the inputs' dtype."""
    del params, keep, out
    row = range_values(attrs, xs[0].dtype)
    return [np.ascontiguousarray(np.broadcast_to(row, (xs[0].shape[0], attrs.count)))], None


KIND = LayerKind("rangeDynamic", build, forward, layouts=(ND,), value_inputs=(0, 1, 2))
