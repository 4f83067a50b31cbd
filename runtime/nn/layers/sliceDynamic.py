"""Runtime, neural-network layer: Core ML ``sliceDynamic``: ``sliceStatic`` whose bounds may come
from inputs.

``SliceDynamicLayerParams`` (NeuralNetwork.proto, Core ML 3): 2 to 7 inputs; the 2nd is
``beginIds``, and if present the 3rd ``endIds``, the 4th ``strides``, the 5th ``beginMasks``,
the 6th ``endMasks``, the 7th ``squeezeMasks``, each replacing the parameter of that name.
The bounds decide the output's shape, so their values must be known when the network compiles
(converters compute them from constants and ``getShape``); bounds computed from the model
inputs raise ``NeedsValues`` and the engine compiles per set of values
(``runtime.nn.dynamic``). Parameters longer than the rank are cut to it:
coremltools' builder writes 5 entries when none are given. Slicing rules:
``runtime.nn.layers._nd_slice``.
"""

from __future__ import annotations

from typing import Any

from . import _nd_slice as slicing
from ._nd_axes import input_count, integers, unknown_value
from .base import ND, Built, CoreMLShape, LayerKind

# input position -> the bound it carries
INPUTS = {
    1: "beginIds",
    2: "endIds",
    3: "strides",
    4: "beginMasks",
    5: "endMasks",
    6: "squeezeMasks",
}


def build(layer, in_shapes: list[CoreMLShape], values) -> Built:
    input_count(layer, in_shapes, 2, 7)
    shape = tuple(in_shapes[0])
    p, rank = layer.sliceDynamic, len(shape)
    # parameters longer than the rank: coremltools' builder writes 5 by default
    given: dict[str, Any] = {
        "endIds": [int(v) for v in p.endIds][:rank],
        "strides": ([int(v) for v in p.strides] or [1] * rank)[:rank],
        "beginMasks": slicing.masks(p.beginMasks, rank)[:rank],
        "endMasks": slicing.masks(p.endMasks, rank)[:rank],
        "squeezeMasks": slicing.masks(p.squeezeMasks, rank)[:rank],
    }
    for position in range(1, len(in_shapes)):
        name = INPUTS[position]
        if values[position] is None:
            raise unknown_value(layer, f"input {position + 1} ({name})")
        numbers = integers(layer, values[position], name)
        given[name] = [bool(v) for v in numbers] if name.endswith("Masks") else numbers
    bounds = slicing.Bounds(
        given.pop("beginIds"),
        given["endIds"],
        given["strides"],
        given["beginMasks"],
        given["endMasks"],
        given["squeezeMasks"],
    )
    attrs, out = slicing.build_slice(layer, shape, bounds, len(in_shapes))
    return Built(attrs, {}, [out])


KIND = LayerKind(
    "sliceDynamic",
    build,
    slicing.forward,
    slicing.backward,
    layouts=(ND,),
    value_inputs=tuple(INPUTS),
)
