"""Runtime, neural-network layer: Core ML ``sliceStatic``: a strided slice along every axis.

``SliceStaticLayerParams`` (NeuralNetwork.proto, Core ML 3): ``beginIds``, ``endIds``,
``strides``, ``beginMasks``, ``endMasks`` (and ``squeezeMasks``, spec 5), one entry per axis
of the input; the rules are in ``runtime.nn.layers._nd_slice`` (``x[:3:2, 2::2, ::2]`` for the
proto's example). Without squeezed axes the output keeps the rank; squeezing every axis
leaves one axis of 1.
"""

from __future__ import annotations

from . import _nd_slice as slicing
from ._nd_axes import input_count
from .base import ND, Built, CoreMLShape, LayerKind


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    input_count(layer, in_shapes, 1)
    shape = tuple(in_shapes[0])
    p, rank = layer.sliceStatic, len(shape)
    bounds = slicing.Bounds(
        begin=[int(v) for v in p.beginIds],
        end=[int(v) for v in p.endIds],
        strides=[int(v) for v in p.strides] or [1] * rank,
        begin_masks=slicing.masks(p.beginMasks, rank),
        end_masks=slicing.masks(p.endMasks, rank),
        squeeze_masks=slicing.masks(p.squeezeMasks, rank),
    )
    attrs, out = slicing.build_slice(layer, shape, bounds)
    return Built(attrs, {}, [out])


KIND = LayerKind("sliceStatic", build, slicing.forward, slicing.backward, layouts=(ND,))
