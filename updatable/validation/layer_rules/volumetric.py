"""Spec side, validation layer: Core ML's per-layer rules of the 3-D (volumetric) kinds:
convolution3d, pooling3d and globalPooling3d (Core ML 4).

Source: coremltools ``mlmodel/src/Validation/NeuralNetwork/NeuralNetworkLayerValidator.cpp``
(``validateConvolution3DLayer``, ``validatePooling3dLayer``, ``validateGlobalPooling3dLayer``)
and ``NeuralNetworkValidatorUtils.hpp`` (``validatePositive``, ``validatePooling3dPadding``).
Quirks kept: the convolution's padding messages write "Custom Padding Front" but
"customPadding Left", in quotes; the pooling's write no quotes; "weight as input tensor"
cannot fire after the count check (a convolution3d has exactly one input).
"""

from __future__ import annotations

from collections.abc import Iterator

from updatable import proto
from updatable.validation.issues import Issue
from updatable.validation.layer_rules.scope import Scope, counts, int32, nd_ranks, uint64
from updatable.validation.layer_rules.weights import (
    WeightType,
    float_count,
    general_problem,
    mixed_precision,
    value_type,
)

_POOL3D_CUSTOM = proto.NeuralNetwork_pb2.Pooling3DLayerParams.CUSTOM
_FLOATS = (WeightType.FLOAT32, WeightType.FLOAT16)


def _positive_problem(value: int, name: str) -> str | None:
    """``validatePositive``."""
    return f"{name} must be positive, got {value}." if value <= 0 else None


# --- convolution3d ---------------------------------------------------------------------------


def _conv3d_geometry(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    """Y5: static weights; positive channels, groups, kernel, stride, dilation; paddings >= 0."""
    params = layer.convolution3d
    message = None
    if len(layer.input) != 1:
        message = (
            f"Convolution3D layer: '{layer.name}', convolution3D does not support weight as "
            "input tensor."
        )
    positives = (
        (params.inputChannels, "Input Channels"),
        (params.outputChannels, "Output Channels"),
        (params.nGroups, "Groups"),
        (params.kernelDepth, "Kernel Depth"),
        (params.kernelHeight, "Kernel Height"),
        (params.kernelWidth, "Kernel Width"),
        (params.strideDepth, "Stride Depth"),
        (params.strideHeight, "Stride Height"),
        (params.strideWidth, "Stride Width"),
        (params.dilationDepth, "Dilation Depth"),
        (params.dilationHeight, "Dilation Height"),
        (params.dilationWidth, "Dilation Width"),
    )
    paddings = (
        (params.customPaddingFront, "Custom Padding Front"),
        (params.customPaddingBack, "Custom Padding Back"),
        (params.customPaddingTop, "Custom Padding Top"),
        (params.customPaddingBottom, "Custom Padding Bottom"),
        (params.customPaddingLeft, "customPadding Left"),
        (params.customPaddingRight, "customPadding Right"),
    )
    for value, name in positives:
        message = message or _positive_problem(value, name)
    for value, name in paddings:
        if not message and value < 0:
            message = f"{name} must be non-negative, got '{value}'."
    if message:
        yield scope.error("Y5", layer, message)


def _conv3d_expected(params: proto.Message) -> int:
    """The weight count, in Core ML's 32-bit ``int`` arithmetic, cast to ``uint64_t``.

    Every factor is positive here (``_conv3d_geometry`` ran first), so ``//`` is C++'s ``/``.
    """
    groups, inputs, outputs = params.nGroups, params.inputChannels, params.outputChannels
    kernel = params.kernelDepth * params.kernelHeight * params.kernelWidth
    if params.isDeconvolution:
        count = outputs // groups * inputs * kernel
    else:
        count = outputs * (inputs // groups) * kernel
    return uint64(int32(count))


def _conv3d_weights_problem(layer: proto.NeuralNetworkLayer) -> tuple[str, str] | None:
    """(rule id, message) of the first weight / output-shape problem."""
    params, name = layer.convolution3d, layer.name
    weights_type, bias_type = value_type(params.weights), value_type(params.bias)
    if WeightType.UNSPECIFIED in (weights_type, bias_type if params.hasBias else None):
        return "Y4", f"Convolution3D layer '{name}'  has invalid weights/bias fields."
    if params.hasBias and mixed_precision(weights_type, bias_type):
        return "Y4", (
            f"Convolution3D layer '{name}' has unmatched precisions of weights/bias They should "
            "either be half or full precision."
        )
    if len(params.outputShape) and not params.isDeconvolution:
        return "Y5", (
            f"Deconvolution3D Layer '{name}' Output Shape is supported for Deconvolution layer."
        )
    if len(params.outputShape) not in (0, 3):
        return "Y5", f"Deconvolution3D layer: '{name}' , if set, output shape must be of length 3."
    if weights_type is WeightType.QUINT:
        return (
            "Y4",
            f"Layer '{name}' has invalid weights field. Quantized weights are not supported.",
        )
    names = ("Convolution3D ", name, "weights")
    message = general_problem(
        params.weights, _conv3d_expected(params), params.outputChannels, names
    )
    return ("Y4", message) if message else None


def _conv3d_bias_problem(layer: proto.NeuralNetworkLayer) -> str | None:
    params, name = layer.convolution3d, layer.name
    bias_type = value_type(params.bias)
    if not params.hasBias:
        return None
    if bias_type in _FLOATS:
        size = float_count(params.bias, bias_type)
        if size != params.outputChannels:
            return (
                f"Convolution3D layer '{name}' has a bias vector of size {size} but should be "
                f"{params.outputChannels}."
            )
        return None
    if bias_type is WeightType.QUINT:
        return f"Layer '{name}' has invalid bias field. Quantized bias is not supported."
    return f"Layer {name}has not specified bias."


def _conv3d_weights(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    """Y4 / Y5: weight types and sizes, the deconvolution output shape, the bias."""
    problem = _conv3d_weights_problem(layer)
    if problem is None:
        bias = _conv3d_bias_problem(layer)
        problem = ("Y4", bias) if bias else None
    if problem:
        yield scope.error(problem[0], layer, problem[1])


def _pooling3d_geometry(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    """Y5: positive kernel and stride; custom paddings >= 0, and 0 unless CUSTOM."""
    params = layer.pooling3d
    message = None
    for value, name in (
        (params.kernelDepth, "Kernel Depth"),
        (params.kernelHeight, "Kernel Height"),
        (params.kernelWidth, "Kernel Width"),
        (params.strideDepth, "Stride Depth"),
        (params.strideHeight, "Stride Height"),
        (params.strideWidth, "Stride Width"),
    ):
        message = message or _positive_problem(value, name)
    kind = params.paddingType
    for side in ("Front", "Back", "Top", "Bottom", "Left", "Right"):
        value = getattr(params, f"customPadding{side}")
        if message:
            break
        if kind == _POOL3D_CUSTOM and value < 0:
            message = f"Custom Padding {side} must be non-negative, got {value}."
        elif kind != _POOL3D_CUSTOM and value != 0:
            message = (
                f"Custom Padding {side} cannot be non-zero (got {value}) unless padding type is "
                f"CUSTOM (got {kind})."
            )
    if message:
        yield scope.error("Y5", layer, message)


RULES = {
    "convolution3d": (
        counts(1, 1),
        nd_ranks("Convolution3D", 5, -1),
        _conv3d_geometry,
        _conv3d_weights,
    ),
    "pooling3d": (counts(1, 1), nd_ranks("Pooling3d", 5, -1), _pooling3d_geometry),
    "globalPooling3d": (counts(1, 1), nd_ranks("Pooling3d", 5, -1)),
}
