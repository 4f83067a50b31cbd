"""Core ML's per-layer checks of the spatial kinds (convolution, pooling, padding, crop,
upsample, resizes, reorganizeData, the 3-D kinds): each case turns a valid network into one
Core ML rejects, with its exact message and rule id (Y3 ranks, Y4 weights, Y5 parameters)."""

from __future__ import annotations

import pytest

from tests.builders import every_layer
from tests.layer_mutations import (
    cases,
    check_case,
    clear,
    input_shape,
    output_shape,
    p,
    then,
    weights,
    wire,
)
from updatable import proto
from updatable.validation import core_ml_issue
from updatable.validation.layer_rules.scope import At, Scope
from updatable.validation.layer_rules.spatial import RULES

_NN = proto.NeuralNetwork_pb2
_UNMATCHED = (
    "has unmatched precisions of weights/bias They should either be half or full precision."
)

CONVOLUTION = [
    (
        "convolution",
        [input_shape("x0", [2, 4, 4])],
        "Y3",
        "Layer 'L' of type 'Convolution' has input rank 3 but expects rank at least 4.",
    ),
    (
        "convolution",
        [output_shape("y0", [1, 2, 4, 4])],
        "Y3",
        "Layer 'L' of type 'Convolution' expects equal ranks for its input and output, but they "
        "are not equal.",
    ),
    ("convolution", [clear("valid")], "Y5", "Padding type for convolution layer 'L' is not set."),
    (
        "convolution",
        [p(isDeconvolution=True), wire(inputs=["x0", "x1"])],
        "Y5",
        "Deconvolution Layer 'L' does not support weight as input tensor.",
    ),
    (
        "convolution",
        [p(dilationFactor=[1, 2]), wire(inputs=["x0", "x1"])],
        "Y5",
        "Convolution layer: 'L' , dilated convolution does not support weight as input tensor.",
    ),
    (
        "convolution",
        [weights("weights", floats=4, fp16=4)],
        "Y4",
        "Convolution layer 'L'  has invalid weights/bias fields.",
    ),
    (
        "convolution",
        [p(hasBias=True), weights("bias", floats=2, raw=2)],
        "Y4",
        "Convolution layer 'L'  has invalid weights/bias fields.",
    ),
    (
        "convolution",
        [p(hasBias=True), weights("bias", fp16=2)],
        "Y4",
        f"Convolution layer L{_UNMATCHED}",
    ),
    (
        "convolution",
        [weights("weights", floats=3)],
        "Y4",
        "Convolution layer 'L' has weight matrix of size 3 to encode a 2 × 2 × 1 × 1 convolution.",
    ),
    (
        "convolution",
        [p(kernelSize=[]), weights("weights", fp16=4)],
        "Y4",
        "Convolution layer 'L' has weight matrix of size 4 to encode a 2 × 2 × 3 × 3 convolution.",
    ),
    (
        "convolution",
        [p(isDeconvolution=True, nGroups=2)],
        "Y4",
        "Deconvolution layer 'L' has weight matrix of size 4 to encode a 2 × 1 × 1 × 1 "
        "convolution.",
    ),
    (
        "convolution",
        [weights("weights", raw=1, quant=(8, [1.0], []))],
        "Y4",
        "ConvolutionLayer 'L' has insufficient bytes for quantized weight with 4units.",
    ),
    (
        "convolution",
        [weights("weights", raw=4, quant=(8, None, None))],
        "Y4",
        "ConvolutionLayer 'L' has invalid quantization parameters for quantized weight.",
    ),
    (
        "convolution",
        [weights("weights", raw=4, quant=(8, [1.0, 1.0, 1.0], []))],
        "Y4",
        "ConvolutionLayer 'L' has invalid quantization parameters for quantized weight.",
    ),
    (
        "convolution",
        [weights("weights", raw=4, quant=(8, [1.0], [0.0, 0.0]))],
        "Y4",
        "ConvolutionLayer 'L' has invalid quantization parameters for quantized weight.",
    ),
    (
        "convolution",
        [weights("weights", raw=1, quant=(2, "lut", 3))],
        "Y4",
        "ConvolutionLayer 'L' has invalid quantization parameters for quantized weight.",
    ),
    (
        "convolution",
        [weights("weights", raw=5, quant=(9, "lut", 512))],
        "Y4",
        "ConvolutionLayer 'L' has invalid quantization parameters for quantized weight.",
    ),
    ("convolution", [weights("weights")], "Y4", "Layer Lhas not specified weights."),
    ("convolution", [weights("weights", raw=4)], "Y4", "Layer Lhas not specified weights."),
    (
        "convolution",
        [p(hasBias=True), weights("bias", floats=3)],
        "Y4",
        "Convolution layer 'L' has a bias vector of size 3 but should be 2.",
    ),
    (
        "convolution",
        [p(hasBias=True), weights("bias", raw=1, quant=(8, [1.0], []))],
        "Y4",
        "ConvolutionLayer 'L' has insufficient bytes for quantized bias with 2units.",
    ),
    ("convolution", [p(hasBias=True)], "Y4", "Layer Lhas not specified bias."),
]

POOLING_AND_3D = [
    ("pooling", [clear("valid")], "Y5", "Padding type for the pooling layer 'L' is not set."),
    (
        "pooling",
        [input_shape("x0", [2, 4, 4])],
        "Y3",
        "Layer 'L' of type 'Pooling' has input rank 3 but expects rank at least 4.",
    ),
    (
        "pooling3d",
        [input_shape("x0", [1, 2, 4, 4])],
        "Y3",
        "Layer 'L' of type 'Pooling3d' has input rank 4 but expects rank at least 5.",
    ),
    ("pooling3d", [p(kernelDepth=0)], "Y5", "Kernel Depth must be positive, got 0."),
    ("pooling3d", [p(kernelWidth=-2)], "Y5", "Kernel Width must be positive, got -2."),
    ("pooling3d", [p(strideHeight=0)], "Y5", "Stride Height must be positive, got 0."),
    (
        "pooling3d",
        [p(customPaddingFront=-1)],
        "Y5",
        "Custom Padding Front must be non-negative, got -1.",
    ),
    (
        "pooling3d",
        [p(paddingType=1, customPaddingTop=2)],
        "Y5",
        "Custom Padding Top cannot be non-zero (got 2) unless padding type is CUSTOM (got 1).",
    ),
    (
        "globalPooling3d",
        [output_shape("y0", [2, 4, 4])],
        "Y3",
        "Layer 'L' of type 'Pooling3d' expects equal ranks for its input and output, but they "
        "are not equal.",
    ),
    (
        "convolution3d",
        [input_shape("x0", [1, 2, 4, 4])],
        "Y3",
        "Layer 'L' of type 'Convolution3D' has input rank 4 but expects rank at least 5.",
    ),
    ("convolution3d", [p(inputChannels=0)], "Y5", "Input Channels must be positive, got 0."),
    ("convolution3d", [p(nGroups=0)], "Y5", "Groups must be positive, got 0."),
    ("convolution3d", [p(dilationWidth=-1)], "Y5", "Dilation Width must be positive, got -1."),
    (
        "convolution3d",
        [p(customPaddingBack=-3)],
        "Y5",
        "Custom Padding Back must be non-negative, got '-3'.",
    ),
    (
        "convolution3d",
        [p(customPaddingLeft=-2)],
        "Y5",
        "customPadding Left must be non-negative, got '-2'.",
    ),
    (
        "convolution3d",
        [weights("weights", floats=4, fp16=4)],
        "Y4",
        "Convolution3D layer 'L'  has invalid weights/bias fields.",
    ),
    (
        "convolution3d",
        [p(hasBias=True), weights("bias", fp16=2)],
        "Y4",
        f"Convolution3D layer 'L' {_UNMATCHED}",
    ),
    (
        "convolution3d",
        [p(outputShape=[4, 4, 4])],
        "Y5",
        "Deconvolution3D Layer 'L' Output Shape is supported for Deconvolution layer.",
    ),
    (
        "convolution3d",
        [p(isDeconvolution=True, outputShape=[4, 4])],
        "Y5",
        "Deconvolution3D layer: 'L' , if set, output shape must be of length 3.",
    ),
    (
        "convolution3d",
        [weights("weights", raw=4, quant=(8, [1.0], []))],
        "Y4",
        "Layer 'L' has invalid weights field. Quantized weights are not supported.",
    ),
    (
        "convolution3d",
        [p(kernelDepth=2)],
        "Y4",
        "Convolution3D Layer 'L' has incorrect weights size 4 (expected 8).",
    ),
    (
        "convolution3d",
        [p(nGroups=2, isDeconvolution=True)],
        "Y4",
        "Convolution3D Layer 'L' has incorrect weights size 4 (expected 2).",
    ),
    ("convolution3d", [weights("weights")], "Y4", "Convolution3D Layer 'L' has empty weights."),
    (
        "convolution3d",
        [p(hasBias=True), weights("bias", floats=1)],
        "Y4",
        "Convolution3D layer 'L' has a bias vector of size 1 but should be 2.",
    ),
    (
        "convolution3d",
        [p(hasBias=True), weights("bias", raw=2, quant=(8, [1.0], []))],
        "Y4",
        "Layer 'L' has invalid bias field. Quantized bias is not supported.",
    ),
    ("convolution3d", [p(hasBias=True)], "Y4", "Layer Lhas not specified bias."),
]


def _borders(n):
    def mutate(spec, layer) -> None:
        amounts = layer.padding.paddingAmounts.borderAmounts
        del amounts[:]
        for _ in range(n):
            amounts.add()

    return mutate


OTHER_SPATIAL = [
    (
        "padding",
        [_borders(1)],
        "Y5",
        "Padding layer L specifies 1 padding amounts but it must either specify 2 (for x and y "
        "axes), or 0 for the default values.",
    ),
    ("padding", [clear("constant")], "Y5", "Padding layer L padding type is not set."),
    (
        "padding",
        [input_shape("x0", [16])],
        "Y3",
        "Layer 'L' of type 'Padding' has input rank 1 but expects rank at least 2.",
    ),
    (
        "crop",
        [then(lambda spec, layer: layer.crop.cropAmounts.borderAmounts.pop())],
        "Y5",
        "cropAmounts parameter for the crop layer 'L' is of length 1 but requires exactly two crop "
        "constraints (for X,Y axes).",
    ),
    (
        "crop",
        [wire(inputs=["x0", "x1"])],
        "Y5",
        "Offset parameter for the crop layer 'L' is of length 0 but requires exactly two offsets "
        "(for X,Y axes).",
    ),
    (
        "crop",
        [wire(inputs=["x0", "x1"]), input_shape("x1", [1, 2, 4, 4])],
        "Y3",
        "Layer 'L' of type 'Crop' expects equal ranks for its inputs, but they are not equal.",
    ),
    (
        "crop",
        [input_shape("x0", [4, 4])],
        "Y3",
        "Layer 'L' of type 'Crop' has input rank 2 but expects rank at least 3.",
    ),
    (
        "upsample",
        [p(scalingFactor=[2])],
        "Y5",
        "Invalid scaling factor in upsampling layer 'L'. Only one of scalingFactor and "
        "fractionalScalingFactor can be set, and if set, must be of size 2. Found scalingFactor of "
        "size 1 and fractionalScalingFactor of size 0",
    ),
    (
        "upsample",
        [p(fractionalScalingFactor=[1.5, 1.5])],
        "Y5",
        "Invalid scaling factor in upsampling layer 'L'. Only one of scalingFactor and "
        "fractionalScalingFactor can be set, and if set, must be of size 2. Found scalingFactor of "
        "size 2 and fractionalScalingFactor of size 2",
    ),
    (
        "upsample",
        [p(scalingFactor=[], fractionalScalingFactor=[1.5, 1.5], mode=1)],
        "Y5",
        "Invalid upsample layer 'L'. Fractional upsample only compatible with align_corners=true "
        "or align_corners=false",
    ),
    (
        "upsample",
        [p(linearUpsampleMode=1)],
        "Y5",
        "Layer 'L' of type Upsample uses Nearest Neighbors but uses linear upsampling mode other "
        "than DEFAULT.",
    ),
    (
        "upsample",
        [input_shape("x0", [4, 4])],
        "Y3",
        "Layer 'L' of type 'Upsample' has input rank 2 but expects rank at least 3.",
    ),
    (
        "resizeBilinear",
        [p(targetSize=[8])],
        "Y5",
        "Target Size in the resize bilinear layer 'L' must be a vector of size 2 (i.e height, "
        "width) but is a vector of size 1.",
    ),
    (
        "cropResize",
        [p(targetSize=[8, 8, 8])],
        "Y5",
        "Target Size in the crop resize layer 'L' must be a vector of size 2 (i.e height, width) "
        "but is a vector of size 3.",
    ),
    (
        "cropResize",
        [input_shape("x1", [1, 1, 1, 4, 1, 1])],
        "Y3",
        "Layer 'L' of type 'CropResize' expects equal ranks for its inputs, but they are not "
        "equal.",
    ),
    (
        "cropResize",
        [input_shape("x0", [1, 2, 4, 4])],
        "Y3",
        "Layer 'L' of type 'CropResize' has input rank 4 but expects rank at least 5.",
    ),
    ("reorganizeData", [p(blockSize=1)], "Y5", "Block size for layer 'L' must be > 1."),
    (
        "reorganizeData",
        [input_shape("x0", [4, 4])],
        "Y3",
        "Layer 'L' of type 'ReorganizeData' has input rank 2 but expects rank at least 3.",
    ),
    (
        "resizeBilinear",
        [output_shape("y0", [4, 4])],
        "Y3",
        "Layer 'L' of type 'ResizeBilinear' expects equal ranks for its input and output, but "
        "they are not equal.",
    ),
    ("reorganizeData", [p(blockSize=1 << 32)], "Y5", "Block size for layer 'L' must be > 1."),
]


@pytest.mark.parametrize(
    ("kind", "mutations", "code", "message"), cases(CONVOLUTION + POOLING_AND_3D + OTHER_SPATIAL)
)
def test_core_ml_rejects(kind, mutations, code, message):
    check_case(kind, mutations, code, message)


def test_dynamic_weights_get_no_weight_checks():
    """A convolution whose weights come from its second input: Core ML stops after the padding
    and dilation checks."""
    spec = every_layer.network("convolution")
    layer = every_layer.nested(spec)
    every_layer.rewire(spec, layer, inputs=["x0", "x1"])
    layer.convolution.ClearField("weights")
    assert core_ml_issue(spec) is None


def test_rank5_mapping_refuses_dynamic_weights():
    """Unreachable from a model (a second input makes the network N-d) but ported: the rule
    itself, run on a rank-5 scope."""
    spec = every_layer.network("convolution")
    layer = every_layer.nested(spec)
    layer.input.append("x1")
    scope = Scope(At(), False, {"x0": {"__input"}, "x1": {"__input"}}, {})
    issues = [issue for rule in RULES["convolution"] for issue in rule(layer, scope)]
    assert issues[0].message == (
        "Convolution Layer 'L' does not support weight as input tensor when "
        "RANK5_ARRAY_MAPPING == true."
    )


def test_upsample_align_corners_modes():
    """Bilinear fractional scaling with an align-corners mode is fine (iOS 14)."""
    spec = every_layer.network("upsample")
    params = every_layer.nested(spec).upsample
    params.ClearField("scalingFactor")
    params.fractionalScalingFactor.extend([1.5, 1.5])
    params.mode = _NN.UpsampleLayerParams.BILINEAR
    params.linearUpsampleMode = _NN.UpsampleLayerParams.ALIGN_CORNERS_TRUE
    assert core_ml_issue(spec) is None
