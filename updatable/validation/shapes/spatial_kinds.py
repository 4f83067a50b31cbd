"""Spec side, validation layer: the rank-5 shape rules of the spatial kinds: convolution,
pooling, crop, padding, upsample, resizeBilinear, cropResize and reorganizeData.

Source: coremltools ``mlmodel/src/Validation/NeuralNetwork/NeuralNetworkShapes.cpp``
(``shapeConvolutionLayer``, ``shapePoolingLayer``, ``shapeCropLayer``, ``shapePaddingLayer``,
``shapeUpsampleLayer``, ``shapeResizeBilinearLayer``, ``shapeCropResizeLayer``,
``shapeReorganizeDataLayer``). Each rule narrows the ranges of a layer's input and output
blobs in place, both ways (the shape pass runs forward and backward until it settles), with
Core ML's integer types: ``int`` for kernel sizes, strides and paddings, ``size_t`` for
sizes. Quirks kept: ``includeLastPixel`` pooling bounds the input *height* with the output
width; a deconvolution with VALID padding and stride 0 divides an ``int`` by zero (undefined
behaviour in Core ML: :class:`UndefinedBehaviour`).
"""

from __future__ import annotations

from typing import Any

from updatable import proto
from updatable.validation.layer_rules.scope import int32, uint64
from updatable.validation.shapes.ranges import (
    BlobShapes,
    Range,
    Shape,
    ShapeFailure,
    add,
    div,
    mul,
    sub,
)

_SPACE_TO_DEPTH = proto.NeuralNetwork_pb2.ReorganizeDataLayerParams.SPACE_TO_DEPTH


class UndefinedBehaviour(ShapeFailure):
    """Core ML's shape inference would run into undefined behaviour (it crashes or reads
    garbage): there is no Core ML message to give."""


def cdiv(a: int, b: int) -> int:
    """C++ ``int`` division (truncates toward zero)."""
    if b == 0:
        raise UndefinedBehaviour("an integer division by zero (a stride of 0)")
    quotient = abs(a) // abs(b)
    return quotient if (a >= 0) == (b > 0) else -quotient


def pair(values: Any, default: int) -> tuple[int, int]:
    """Two ``int`` values (height, width) when exactly two are given, else the default."""
    return (int32(values[0]), int32(values[1])) if len(values) == 2 else (default, default)


def borders(padding_amounts: Any) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of a ``BorderAmounts`` with two entries, else zeros."""
    amounts = padding_amounts.borderAmounts
    if len(amounts) != 2:
        return 0, 0, 0, 0
    return (
        int32(amounts[0].startEdgeSize),
        int32(amounts[0].endEdgeSize),
        int32(amounts[1].startEdgeSize),
        int32(amounts[1].endEdgeSize),
    )


def _conv_valid_axis(
    inp: Shape, out: Shape, axis: str, geometry: tuple[int, int, int, int]
) -> None:
    """One axis of a VALID (explicitly padded) convolution; ``geometry`` is (dilated kernel,
    stride, the two paddings of the axis)."""
    kernel, stride = geometry[:2]
    pads = int32(geometry[2] + geometry[3])
    if int32(kernel - pads) > 0:
        out_min = getattr(out, axis).min_value
        low = 0 if out_min == 0 else out_min - 1
        inp.lower_bound(axis, uint64(low * uint64(stride) + uint64(kernel - pads)))
        upper = add(mul(sub(getattr(out, axis).maximum, 1), uint64(stride)), uint64(kernel - pads))
        in_max = getattr(inp, axis).maximum
        # `max + (size_t)(pads - kernel) % 2 != 0`: true unless both terms are 0
        if in_max is not None and uint64(in_max + uint64(pads - kernel) % 2) != 0:
            upper = add(upper, 1)
        inp.upper_bound(axis, upper)
    out.update(axis, (getattr(inp, axis) + int32(pads - kernel)).div_int(stride) + 1)


def _deconv_valid_axis(
    inp: Shape, out: Shape, axis: str, geometry: tuple[int, int, int, int]
) -> None:
    """One axis of a VALID deconvolution: the input bounds from the output's, then back.
    ``geometry`` is (dilated kernel, stride, first padding, second padding) in the order
    Core ML adds them (bottom and top for the height, left and right for the width)."""
    kernel, stride, first, second = geometry
    out_min = int32(getattr(out, axis).min_value)
    lower = cdiv(int32(out_min + first + second - kernel), stride) + 1
    upper = sub(add(add(getattr(out, axis).maximum, first), second), kernel)
    upper = add(div(upper, uint64(stride)), 1)
    if lower > 0:
        inp.lower_bound(axis, lower)
    inp.upper_bound(axis, upper)
    out.update(axis, (getattr(inp, axis) - 1) * uint64(stride) + kernel - second - first)


def convolution(layer: proto.NeuralNetworkLayer, shapes: BlobShapes) -> None:
    """``shapeConvolutionLayer``."""
    inp, out = shapes.get(layer.input[0]), shapes.output(layer, 0)
    out.update("sequence", inp.sequence)
    out.update("batch", inp.batch)
    inp.update("sequence", out.sequence)
    inp.update("batch", out.batch)
    conv = layer.convolution
    groups = 1 if conv.nGroups == 0 else int32(conv.nGroups)
    channels = int32(conv.kernelChannels)
    inp.set("channel", uint64(channels if conv.isDeconvolution else int32(channels * groups)))
    kernel_h, kernel_w = pair(conv.kernelSize, 3)
    stride_h, stride_w = pair(conv.stride, 1)
    dilation_h, dilation_w = pair(conv.dilationFactor, 1)
    dilated_h = int32((kernel_h - 1) * dilation_h + 1)
    dilated_w = int32((kernel_w - 1) * dilation_w + 1)
    out.set("channel", conv.outputChannels)
    if conv.isDeconvolution and len(conv.outputShape) == 2:
        out.set("height", conv.outputShape[0])
        out.set("width", conv.outputShape[1])
        return
    padding = conv.WhichOneof("ConvolutionPaddingType")
    if padding == "valid":
        top, bottom, left, right = borders(conv.valid.paddingAmounts)
        axis_rule = _deconv_valid_axis if conv.isDeconvolution else _conv_valid_axis
        axis_rule(inp, out, "height", (dilated_h, stride_h, bottom, top))
        axis_rule(inp, out, "width", (dilated_w, stride_w, left, right))
    elif padding == "same" and conv.isDeconvolution:
        out.update("height", inp.height * uint64(stride_h))
        out.update("width", inp.width * uint64(stride_w))
    elif padding == "same":
        for axis, stride in (("height", stride_h), ("width", stride_w)):
            out.update(axis, (getattr(inp, axis) - 1).div_size(uint64(stride)) + 1)
            inp.lower_bound(axis, getattr(out, axis).min_value)
            inp.upper_bound(axis, mul(getattr(out, axis).maximum, uint64(stride)))
    else:
        raise ShapeFailure("Convolution padding type not set")


def _last_pixel_axis(
    inp: Shape, out: Shape, axis: str, geometry: tuple[int, int, int, int]
) -> None:
    """One axis of ``includeLastPixel`` pooling: (kernel, stride, padding, any padding)."""
    kernel, stride, pad = geometry[:3]
    extra = 0
    if geometry[3]:
        in_min = int32(inp.height.min_value if axis == "height" else inp.width.min_value)
        if in_min - 1 + (2 * pad - kernel - 1) + 2 * stride >= in_min + pad:
            extra = -1
    out.update(
        axis, (getattr(inp, axis) + (2 * pad - kernel)).div_round_up(uint64(stride)) + 1 + extra
    )
    if kernel - 2 * pad > 0:
        # Core ML bounds the input height in both passes (its width pass names the height)
        inp.lower_bound(
            "height", uint64(getattr(out, axis).min_value - 1 + uint64(kernel - 2 * pad))
        )


def pooling(layer: proto.NeuralNetworkLayer, shapes: BlobShapes) -> None:
    """``shapePoolingLayer``."""
    inp, out = shapes.get(layer.input[0]), shapes.output(layer, 0)
    out.update("sequence", out.sequence.intersect(inp.sequence))
    out.update("batch", out.batch.intersect(inp.batch))
    out.update("channel", inp.channel)
    for axis in ("sequence", "batch", "channel"):
        inp.update(axis, getattr(out, axis))
    pool = layer.pooling
    kernel_h, kernel_w = pair(pool.kernelSize, 3)
    stride_h, stride_w = pair(pool.stride, 1)
    padding = pool.WhichOneof("PoolingPaddingType")
    if pool.globalPooling:
        out.set("height", 1)
        out.set("width", 1)
    elif padding == "valid":
        top, bottom, left, right = borders(pool.valid.paddingAmounts)
        for axis, kernel, stride, pads in (
            ("height", kernel_h, stride_h, top + bottom),
            ("width", kernel_w, stride_w, left + right),
        ):
            if kernel - pads > 0:
                out_min = getattr(out, axis).min_value
                low = 0 if out_min == 0 else out_min - 1
                inp.lower_bound(axis, uint64(low * uint64(stride) + uint64(kernel - pads)))
            out.update(axis, (getattr(inp, axis) + (pads - kernel)).div_size(uint64(stride)) + 1)
    elif padding == "same":
        out.update("height", (inp.height - 1).div_size(uint64(stride_h)) + 1)
        out.update("width", (inp.width - 1).div_size(uint64(stride_w)) + 1)
    elif padding == "includeLastPixel":
        top, left = pair(pool.includeLastPixel.paddingAmounts, 0)
        _last_pixel_axis(inp, out, "height", (kernel_h, stride_h, top, top or left))
        _last_pixel_axis(inp, out, "width", (kernel_w, stride_w, left, top or left))
    else:
        raise ShapeFailure("Pooling padding type not set")


def _keep_sbc(inp: Shape, out: Shape) -> None:
    """Sequence, batch and channel pass through (both ways), each intersected first."""
    for axis in ("sequence", "batch", "channel"):
        out.update(axis, getattr(out, axis).intersect(getattr(inp, axis)))
    for axis in ("sequence", "batch", "channel"):
        inp.update(axis, getattr(out, axis))


def crop(layer: proto.NeuralNetworkLayer, shapes: BlobShapes) -> None:
    """``shapeCropLayer``: crop amounts (one input) or the second input's height and width."""
    inp, out = shapes.get(layer.input[0]), shapes.output(layer, 0)
    _keep_sbc(inp, out)
    if len(layer.input) == 1:
        top, bottom, left, right = borders(layer.crop.cropAmounts)
        out.update("height", inp.height - top - bottom)
        out.update("width", inp.width - right - left)
        inp.lower_bound("height", uint64(top + bottom + 1))
        inp.lower_bound("width", uint64(right + left + 1))
    else:
        reference = shapes.get(layer.input[1])
        out.update("channel", inp.channel)
        out.update("height", reference.height)
        out.update("width", reference.width)


def padding(layer: proto.NeuralNetworkLayer, shapes: BlobShapes) -> None:
    """``shapePaddingLayer``: height and width grow by the (``size_t``) paddings."""
    inp, out = shapes.get(layer.input[0]), shapes.output(layer, 0)
    out.update("sequence", out.sequence.intersect(inp.sequence))
    out.update("batch", out.batch.intersect(inp.batch))
    for axis in ("sequence", "batch", "channel"):
        inp.update(axis, getattr(out, axis))
    amounts = layer.padding.paddingAmounts.borderAmounts
    top = bottom = left = right = 0
    if len(amounts) == 2:
        top, bottom = uint64(amounts[0].startEdgeSize), uint64(amounts[0].endEdgeSize)
        left, right = uint64(amounts[1].startEdgeSize), uint64(amounts[1].endEdgeSize)
    out.update("channel", out.channel.intersect(inp.channel))
    out.update("height", inp.height + top + bottom)
    out.update("width", inp.width + right + left)
    inp.update("height", out.height - top - bottom)
    inp.update("width", out.width - left - right)


def upsample(layer: proto.NeuralNetworkLayer, shapes: BlobShapes) -> None:
    """``shapeUpsampleLayer``: integer scaling factors (0 reads as 1)."""
    inp, out = shapes.get(layer.input[0]), shapes.output(layer, 0)
    _keep_sbc(inp, out)
    factors = layer.upsample.scalingFactor
    scale_h = scale_w = 1
    if len(factors) == 2:
        scale_h, scale_w = (uint64(f) or 1 for f in factors)
    out.update("height", inp.height * scale_h)
    out.update("width", inp.width * scale_w)
    inp.update("height", out.height.div_size(scale_h))
    inp.update("width", out.width.div_size(scale_w))


def _target(sizes: Any) -> tuple[int, int]:
    if len(sizes) != 2:
        return 1, 1
    return (uint64(sizes[0]) or 1, uint64(sizes[1]) or 1)


def resize_bilinear(layer: proto.NeuralNetworkLayer, shapes: BlobShapes) -> None:
    """``shapeResizeBilinearLayer``: the target height and width (0 or unset reads as 1)."""
    inp, out = shapes.get(layer.input[0]), shapes.output(layer, 0)
    for axis in ("sequence", "batch", "channel"):
        out.update(axis, getattr(out, axis).intersect(getattr(inp, axis)))
    height, width = _target(layer.resizeBilinear.targetSize)
    out.set("height", height)
    out.set("width", width)
    for axis in ("sequence", "batch", "channel"):
        inp.update(axis, getattr(inp, axis).intersect(getattr(out, axis)))


def crop_resize(layer: proto.NeuralNetworkLayer, shapes: BlobShapes) -> None:
    """``shapeCropResizeLayer``: N boxes of [1, 1, 4 or 5, 1, 1] give N crops."""
    inp, rois, out = shapes.get(layer.input[0]), shapes.get(layer.input[1]), shapes.output(layer, 0)
    out.update("sequence", out.sequence.intersect(rois.sequence))
    out.update("batch", out.batch.intersect(inp.batch))
    out.update("channel", out.channel.intersect(inp.channel))
    height, width = _target(layer.cropResize.targetSize)
    out.set("height", height)
    out.set("width", width)
    inp.update("channel", inp.channel.intersect(out.channel))
    rois.update("sequence", rois.sequence.intersect(out.sequence))
    rois.set("batch", 1)
    rois.update("channel", Range.between(4, 5))
    rois.set("width", 1)
    rois.set("height", 1)


def reorganize_data(layer: proto.NeuralNetworkLayer, shapes: BlobShapes) -> None:
    """``shapeReorganizeDataLayer``: space-to-depth multiplies C by block**2 and divides H, W
    by block; the other modes the reverse."""
    inp, out = shapes.get(layer.input[0]), shapes.output(layer, 0)
    out.update("sequence", inp.sequence)
    out.update("batch", inp.batch)
    inp.update("sequence", out.sequence)
    inp.update("batch", out.batch)
    block = uint64(layer.reorganizeData.blockSize)
    area = uint64(block * block)
    if layer.reorganizeData.mode == _SPACE_TO_DEPTH:
        out.update("channel", inp.channel * area)
        out.update("height", inp.height.div_size(block))
        out.update("width", inp.width.div_size(block))
        inp.update("channel", out.channel.div_size(area))
        inp.update("height", out.height * block)
        inp.update("width", out.width * block)
    else:
        out.update("channel", inp.channel.div_size(area))
        out.update("height", inp.height * block)
        out.update("width", inp.width * block)
        inp.update("channel", out.channel * area)
        inp.update("height", out.height.div_size(block))
        inp.update("width", out.width.div_size(block))


RULES = {
    "convolution": convolution,
    "pooling": pooling,
    "crop": crop,
    "padding": padding,
    "upsample": upsample,
    "resizeBilinear": resize_bilinear,
    "cropResize": crop_resize,
    "reorganizeData": reorganize_data,
}
