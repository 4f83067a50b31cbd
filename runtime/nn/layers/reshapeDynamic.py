"""Runtime, neural-network layer: Core ML ``reshapeDynamic``: the first input's values in the
shape given by the values of the second input.

``ReshapeDynamicLayerParams`` (NeuralNetwork.proto, Core ML 3): "Second input is a rank 1
tensor specifying the shape of the output." Converters compute that tensor from constants and
``getShape`` layers, so the compiler knows its value (``LayerKind.value_inputs``) and the
layer is a view like ``reshapeStatic`` (the same rules: positive sizes, at most one ``-1``,
the same number of values). A shape computed from the model inputs' values raises
``NeedsValues``: the engine compiles the network per set of values (``runtime.nn.dynamic``).
"""

from __future__ import annotations

from ._nd_axes import input_count, integers, target_shape, unknown_value
from ._nd_reshape import ReshapeAttrs, backward, forward
from .base import ND, Built, CoreMLShape, LayerKind


def build(layer, in_shapes: list[CoreMLShape], values) -> Built:
    input_count(layer, in_shapes, 2)
    shape = tuple(in_shapes[0])
    if values[1] is None:
        raise unknown_value(layer, "second input (the target shape)")
    out = target_shape(layer, integers(layer, values[1], "shape"), shape, "shape")
    return Built(ReshapeAttrs(shape, out, inputs=2), {}, [out])


KIND = LayerKind("reshapeDynamic", build, forward, backward, layouts=(ND,), value_inputs=(1,))
