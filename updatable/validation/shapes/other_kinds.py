"""Spec side, validation layer: the rank-5 shape rules of the non-spatial kinds: the
shape-keeping ones, innerProduct, embedding, broadcasting arithmetic, dot, reduce,
loadConstant, reshape, flatten, permute, concat, split, sequenceRepeat, slice, the recurrent
kinds and custom layers.

Source: coremltools ``mlmodel/src/Validation/NeuralNetwork/NeuralNetworkShapes.cpp``
(``shapeUnchanged``, ``shapeInnerProductLayer``, ``shapeEmbeddingLayer``,
``shapeBroadcastLayer``, ``shapeDotLayer``, ``shapeReduceLayer``, ``shapeLoadConstantLayer``,
``shapeReshapeLayer``, ``shapeFlattenLayer``, ``shapePermuteLayer``, ``shapeConcatLayer``,
``shapeSplitLayer``, ``shapeSequenceRepeatLayer``, ``shapeSliceLayer``, ``shape*Recurrent*``,
``shapeCustomLayer``). Quirks kept: ``max`` and ``min`` are shape-keeping (not broadcasting)
and use their first input only; the dot product's output ranges are computed on a copy and
never stored; reduce over C updates the output width twice instead of the input's.
"""

from __future__ import annotations

from typing import Any

from updatable import proto
from updatable.validation.layer_rules.scope import int32, uint64
from updatable.validation.shapes.ranges import (
    AXES,
    BlobShapes,
    Range,
    Shape,
    ShapeFailure,
    value_of,
)
from updatable.validation.shapes.spatial_kinds import cdiv

_NN = proto.NeuralNetwork_pb2
_CHW = ("channel", "height", "width")


def unchanged(layer: proto.NeuralNetworkLayer, shapes: BlobShapes) -> None:
    """``shapeUnchanged``: the first output has the first input's five ranges, both ways."""
    inp, out = shapes.get(layer.input[0]), shapes.output(layer, 0)
    out.copy_from(inp)
    inp.copy_from(out)


def _keep_sequence_batch(inp: Shape, out: Shape) -> None:
    out.update("sequence", out.sequence.intersect(inp.sequence))
    out.update("batch", out.batch.intersect(inp.batch))
    inp.update("sequence", out.sequence)
    inp.update("batch", out.batch)


def _vector(shape: Any, channels: int) -> None:
    shape.set("channel", channels)
    shape.set("height", 1)
    shape.set("width", 1)


def inner_product(layer: proto.NeuralNetworkLayer, shapes: BlobShapes) -> None:
    inp, out = shapes.get(layer.input[0]), shapes.output(layer, 0)
    _keep_sequence_batch(inp, out)
    _vector(inp, layer.innerProduct.inputChannels)
    _vector(out, layer.innerProduct.outputChannels)


def embedding(layer: proto.NeuralNetworkLayer, shapes: BlobShapes) -> None:
    inp, out = shapes.get(layer.input[0]), shapes.output(layer, 0)
    out.update("sequence", inp.sequence)
    out.update("batch", inp.batch)
    inp.update("sequence", out.sequence)
    inp.update("batch", out.batch)
    _vector(inp, 1)
    _vector(out, layer.embedding.outputChannels)


def broadcast(layer: proto.NeuralNetworkLayer, shapes: BlobShapes) -> None:
    """``shapeBroadcastLayer`` (add, multiply, average): Seq and Batch shared, C, H, W the
    union of the inputs'; fixed when every input's C, H, W is."""
    first = shapes.get(layer.input[0])
    ranges = {axis: getattr(first, axis) for axis in AXES}
    fixed = first.fixed_chw
    for name in layer.input[1:]:
        other = shapes.get(name)
        fixed = fixed and other.fixed_chw
        for axis in ("sequence", "batch"):
            ranges[axis] = ranges[axis].intersect(getattr(other, axis))
        for axis in _CHW:
            ranges[axis] = ranges[axis].unify(getattr(other, axis))
    out = shapes.output(layer, 0)
    for axis in ("sequence", "batch"):
        out.update(axis, getattr(out, axis).intersect(ranges[axis]))
    for axis in _CHW:
        if fixed:
            out.set(axis, value_of(ranges[axis].maximum))
        else:
            out.update(axis, getattr(out, axis).intersect(ranges[axis]))
    for name in layer.input:
        inp = shapes.get(name)
        inp.update("sequence", out.sequence)
        inp.update("batch", out.batch)
        if not inp.fixed_chw:  # e.g. a loadConstant: its shape is fixed already
            for axis in _CHW:
                inp.update(axis, getattr(out, axis))


def dot(layer: proto.NeuralNetworkLayer, shapes: BlobShapes) -> None:
    """``shapeDotLayer``: both inputs vectors of one size. The output ranges are computed on a
    copy that Core ML drops (its output blob keeps whatever else constrains it)."""
    first, second = shapes.get(layer.input[0]), shapes.get(layer.input[1])
    scratch = shapes.copy_of(layer.output[0])
    scratch.update("sequence", scratch.sequence.intersect(first.sequence))
    scratch.update("batch", scratch.batch.intersect(first.batch))
    scratch.update("sequence", scratch.sequence.intersect(second.sequence))
    scratch.update("batch", scratch.batch.intersect(second.batch))
    for shape in (first, second):
        shape.set("height", 1)
        shape.set("width", 1)
    first.copy_from(second)
    second.copy_from(first)
    for shape in (first, second):
        shape.update("sequence", scratch.sequence)
        shape.update("batch", scratch.batch)
    _vector(scratch, 1)


def _keep(inp: Shape, out: Shape, axis: str) -> None:
    out.update(axis, getattr(out, axis).intersect(getattr(inp, axis)))
    inp.update(axis, getattr(out, axis))


def reduce(layer: proto.NeuralNetworkLayer, shapes: BlobShapes) -> None:
    """``shapeReduceLayer``: the reduced axes become 1, the others pass through."""
    inp, out = shapes.get(layer.input[0]), shapes.output(layer, 0)
    _keep_sequence_batch(inp, out)
    axis, axes = layer.reduce.axis, _NN.ReduceLayerParams
    if axis == axes.CHW:
        _vector(out, 1)
    elif axis == axes.HW:
        _keep(inp, out, "channel")
        out.set("height", 1)
        out.set("width", 1)
    elif axis == axes.H:
        _keep(inp, out, "channel")
        out.set("height", 1)
        _keep(inp, out, "width")
    elif axis == axes.W:
        _keep(inp, out, "channel")
        _keep(inp, out, "height")
        out.set("width", 1)
    elif axis == axes.C:
        out.set("channel", 1)
        _keep(inp, out, "height")
        out.update("width", out.width.intersect(inp.width))
        out.update("width", out.width)  # Core ML's second update names the output again
    elif axis in (-(1 << 31), (1 << 31) - 1):
        raise ShapeFailure("Reduce layer axis not set -- should have been caught in validator.")


def load_constant(layer: proto.NeuralNetworkLayer, shapes: BlobShapes) -> None:
    out, shape = shapes.output(layer, 0), layer.loadConstant.shape
    for axis, value in zip(AXES, (1, 1, shape[0], shape[1], shape[2]), strict=True):
        out.set(axis, value)


def reshape(layer: proto.NeuralNetworkLayer, shapes: BlobShapes) -> None:
    inp, out = shapes.get(layer.input[0]), shapes.output(layer, 0)
    target = [uint64(size) for size in layer.reshape.targetShape]
    out.update("batch", inp.batch)
    if len(target) == 3:
        out.update("sequence", out.sequence.intersect(inp.sequence))
    else:
        out.update("sequence", Range(target.pop(0)))  # size_t -> ShapeRange(min)
    for axis, size in zip(_CHW, target, strict=True):
        out.set(axis, size)


def flatten(layer: proto.NeuralNetworkLayer, shapes: BlobShapes) -> None:
    inp, out = shapes.get(layer.input[0]), shapes.output(layer, 0)
    out.update("sequence", inp.sequence)
    out.update("batch", inp.batch)
    inp.update("sequence", out.sequence)
    inp.update("batch", out.batch)
    out.update("channel", inp.channel.times(inp.height).times(inp.width))
    out.set("height", 1)
    out.set("width", 1)


def permute(layer: proto.NeuralNetworkLayer, shapes: BlobShapes) -> None:
    """``shapePermuteLayer``: axis i of the output is axis ``axis[i]`` of (Seq, C, H, W)."""
    inp = shapes.get(layer.input[0])
    order = [uint64(a) for a in layer.permute.axis]
    if any(a > 3 for a in order[:4]):
        raise ShapeFailure("Ranges axis index is out of bounds in shapePermuteLayer.")
    names = ("sequence", "channel", "height", "width")
    ranges = [getattr(inp, axis) for axis in names]
    out = shapes.output(layer, 0)
    for axis, source in zip(names, order, strict=False):
        out.update(axis, ranges[source])
    back = [Range()] * 4
    for axis, source in zip(names, order, strict=False):
        back[source] = getattr(out, axis)
    for axis, value in zip(names, back, strict=True):
        inp.update(axis, value)
    inp.update("batch", out.batch)


def concat(layer: proto.NeuralNetworkLayer, shapes: BlobShapes) -> None:
    """``shapeConcatLayer``: channels (or sequence steps) add up; the other axes agree."""
    first, out = shapes.get(layer.input[0]), shapes.output(layer, 0)
    summed, shared = (
        ("sequence", "channel") if layer.concat.sequenceConcat else ("channel", "sequence")
    )
    total = getattr(first, summed)
    out.update(shared, getattr(first, shared))
    for axis in ("batch", "height", "width"):
        out.update(axis, getattr(first, axis))
    for name in layer.input[1:]:
        other = shapes.get(name)
        total = total.plus(getattr(other, summed))
        for axis in (shared, "batch", "height", "width"):
            out.update(axis, getattr(other, axis))
            other.update(axis, getattr(out, axis))
    out.update(summed, total)


def split(layer: proto.NeuralNetworkLayer, shapes: BlobShapes) -> None:
    inp, parts = shapes.get(layer.input[0]), int32(layer.split.nOutputs)
    for index in range(len(layer.output)):
        out = shapes.output(layer, index)
        for axis in AXES:
            value = getattr(inp, axis)
            out.update(axis, value.div_int(parts) if axis == "channel" else value)
    first = shapes.get(layer.output[0])
    for axis in AXES:
        value = getattr(first, axis)
        inp.update(axis, value * uint64(parts) if axis == "channel" else value)


def sequence_repeat(layer: proto.NeuralNetworkLayer, shapes: BlobShapes) -> None:
    inp, out = shapes.get(layer.input[0]), shapes.output(layer, 0)
    out.update("sequence", inp.sequence * uint64(layer.sequenceRepeat.nRepetitions))
    for axis in ("batch", *_CHW):
        out.update(axis, getattr(inp, axis))
    for axis in ("batch", *_CHW):
        inp.update(axis, getattr(out, axis))


_SLICE_AXES = {
    _NN.SliceLayerParams.CHANNEL_AXIS: "channel",
    _NN.SliceLayerParams.HEIGHT_AXIS: "height",
    _NN.SliceLayerParams.WIDTH_AXIS: "width",
}


def _slice_size(params: proto.Message, inp: Shape, sliced: str) -> Any:
    """(the sliced axis' output size: an ``int`` or a Range, the input's least size)."""
    start, end, stride = int32(params.startIndex), int32(params.endIndex), int32(params.stride)
    if start >= 0 and end > 0:
        return cdiv(int32(end - 1 - start), stride) + 1, end
    if start < 0 and end <= 0:
        return cdiv(int32(-start - 1 + end), stride) + 1, -start
    if end <= 0:
        end = -end
    else:  # start < 0: the signs differ
        start = -start
    least = int32(start + 1 + end)
    return (getattr(inp, sliced) - least).div_int(stride) + 1, least


def slice_(layer: proto.NeuralNetworkLayer, shapes: BlobShapes) -> None:
    """``shapeSliceLayer``: a fixed size when both indices count from the same end, else the
    input size less the ends, divided by the stride."""
    inp, out = shapes.get(layer.input[0]), shapes.output(layer, 0)
    out.update("sequence", inp.sequence)
    out.update("batch", inp.batch)
    inp.update("sequence", out.sequence)
    inp.update("batch", out.batch)
    sliced = _SLICE_AXES.get(layer.slice.axis)
    if sliced is None:
        raise ShapeFailure("Slice layer axis incorrect -- should be caught in validator.")
    size, least = _slice_size(layer.slice, inp, sliced)
    for axis in _CHW:
        if axis != sliced:
            out.update(axis, getattr(inp, axis))
        elif isinstance(size, Range):
            out.update(axis, size)
        else:
            out.set(axis, uint64(size))
    for axis in _CHW:
        if axis != sliced:
            inp.update(axis, getattr(out, axis))
        else:
            inp.lower_bound(axis, uint64(least))


# The state blobs of each recurrent kind, in the order Core ML constrains them: (inputs,
# outputs) groups; a GRU or LSTM without its state inputs has none.
_STATES = {
    "simpleRecurrent": (((1,), (1,)),),
    "gru": (((1,), (1,)),),
    "uniDirectionalLSTM": (((1, 2), (1, 2)),),
    "biDirectionalLSTM": (((1, 2), (1, 2)), ((3, 4), (3, 4))),
}
_STATE_INPUTS = {"gru": 2, "uniDirectionalLSTM": 3, "biDirectionalLSTM": 5}


def recurrent(layer: proto.NeuralNetworkLayer, shapes: BlobShapes) -> None:
    """``shapeSimpleRecurrentLayer`` / ``GRU`` / ``UnidirectionalLSTM`` / ``Bidirectional``:
    input [Seq, B, in, 1, 1], output [Seq or 1, B, out (2 out), 1, 1], states of ``out``."""
    kind = layer.WhichOneof("layer")
    params = getattr(layer, kind)
    inp, out = shapes.get(layer.input[0]), shapes.output(layer, 0)
    if kind == "biDirectionalLSTM":
        inp.upper_bound("sequence", 10000)  # Core ML's longest bidirectional sequence
    _vector(inp, params.inputVectorSize)
    width = params.outputVectorSize * (2 if kind == "biDirectionalLSTM" else 1)
    _vector(out, uint64(width))
    lstm = kind in ("uniDirectionalLSTM", "biDirectionalLSTM")
    if (params.params if lstm else params).sequenceOutput:
        out.update("sequence", inp.sequence)
    else:
        out.set("sequence", 1)
    if len(layer.input) < _STATE_INPUTS.get(kind, 0):
        return  # no state inputs: Core ML constrains no state blob
    for inputs, outputs in _STATES[kind]:
        states = [shapes.get(layer.input[i]) for i in inputs]
        states += [shapes.output(layer, i) for i in outputs]
        for state in states:
            state.set("sequence", 1)
            _vector(state, params.outputVectorSize)


def custom(layer: proto.NeuralNetworkLayer, shapes: BlobShapes) -> None:
    """Without its implementation a custom layer's outputs stay unconstrained."""
    for index in range(len(layer.output)):
        shapes.output(layer, index)


_UNCHANGED = "activation batchnorm mvn l2normalize softmax lrn unary scale bias max min".split()
RULES = {
    **{kind: unchanged for kind in _UNCHANGED},
    "innerProduct": inner_product,
    "embedding": embedding,
    "add": broadcast,
    "multiply": broadcast,
    "average": broadcast,
    "dot": dot,
    "reduce": reduce,
    "loadConstant": load_constant,
    "reshape": reshape,
    "flatten": flatten,
    "permute": permute,
    "concat": concat,
    "split": split,
    "sequenceRepeat": sequence_repeat,
    "slice": slice_,
    "simpleRecurrent": recurrent,
    "gru": recurrent,
    "uniDirectionalLSTM": recurrent,
    "biDirectionalLSTM": recurrent,
    "custom": custom,
}
