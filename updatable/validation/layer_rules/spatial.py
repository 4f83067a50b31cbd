"""Spec side, validation layer: Core ML's per-layer rules of the 2-D spatial kinds:
convolution, pooling, padding, crop, upsample, resizeBilinear, cropResize and reorganizeData
(the 3-D kinds are in ``volumetric``).

Source: coremltools ``mlmodel/src/Validation/NeuralNetwork/NeuralNetworkLayerValidator.cpp``
(``validateConvolutionLayer``, ``validatePoolingLayer``, ``validatePaddingLayer``,
``validateCropLayer``, ``validateUpsampleLayer``, ``validateResizeBilinearLayer``,
``validateCropResizeLayer``, ``validateReorganizeDataLayer``).
Each kind maps to a tuple of rules run in order; the first message is Core ML's.

Two convolution checks cannot fire in a model Core ML reads: "does not support weight as
input tensor when RANK5_ARRAY_MAPPING == true" (a second input makes the layer an iOS 13 one,
which turns the N-d interpretation on) and "with dynamic weight does not support static bias"
(Core ML returns before it for a layer with two inputs). They are kept, in Core ML's order.
"""

from __future__ import annotations

from collections.abc import Iterator

from updatable import proto
from updatable.validation.issues import Issue
from updatable.validation.layer_rules.scope import (
    LayerRule,
    Scope,
    counts,
    int32,
    nd_ranks,
    two_input_ranks,
    uint64,
)
from updatable.validation.layer_rules.weights import (
    WeightType,
    float_count,
    general_problem,
    mixed_precision,
    value_type,
)

_NN = proto.NeuralNetwork_pb2
_UPSAMPLE_NN = _NN.UpsampleLayerParams.NN
_LINEAR_DEFAULT = _NN.UpsampleLayerParams.DEFAULT
_FLOATS = (WeightType.FLOAT32, WeightType.FLOAT16)


# --- convolution -----------------------------------------------------------------------------


def _conv_mode(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    """Y3 (N-d: equal ranks, rank >= 4), else Y5: no weights input under rank-5 mapping."""
    if scope.nd:
        yield from nd_ranks("Convolution", 4, -1)(layer, scope)
    elif len(layer.input) != 1:
        message = (
            f"Convolution Layer '{layer.name}' does not support weight as input tensor when "
            "RANK5_ARRAY_MAPPING == true."
        )
        yield scope.error("Y5", layer, message)


def _conv_structure(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    """Y5: a padding type; a deconvolution or a dilated convolution has static weights."""
    params, name = layer.convolution, layer.name
    message = None
    if params.WhichOneof("ConvolutionPaddingType") is None:
        message = f"Padding type for convolution layer '{name}' is not set."
    elif params.isDeconvolution and len(layer.input) != 1:
        message = f"Deconvolution Layer '{name}' does not support weight as input tensor."
    elif len(layer.input) != 1 and any(d > 1 for d in params.dilationFactor[:2]):
        message = (
            f"Convolution layer: '{name}' , dilated convolution does not support weight as input "
            "tensor."
        )
    if message:
        yield scope.error("Y5", layer, message)


def _conv_expected(params: proto.Message) -> tuple[int, str]:
    """(weight count, the "a × b × c × d" Core ML writes) of a convolution's weights."""
    groups = params.nGroups or 1  # the proto's default
    height = params.kernelSize[0] if len(params.kernelSize) > 0 else 3
    width = params.kernelSize[1] if len(params.kernelSize) > 1 else 3
    if params.isDeconvolution:
        dims = (params.kernelChannels, params.outputChannels // groups, height, width)
    else:
        dims = (params.outputChannels, params.kernelChannels, height, width)
    return uint64(dims[0] * dims[1] * dims[2] * dims[3]), " × ".join(str(d) for d in dims)


def _conv_weights_problem(layer: proto.NeuralNetworkLayer) -> str | None:
    """The weight half of the convolution checks (static weights only)."""
    params, name = layer.convolution, layer.name
    weights_type, bias_type = value_type(params.weights), value_type(params.bias)
    if params.hasBias and len(layer.input) != 1:
        return f"Convolution layer: '{name}' with dynamic weight does not support static bias."
    if WeightType.UNSPECIFIED in (weights_type, bias_type if params.hasBias else None):
        return f"Convolution layer '{name}'  has invalid weights/bias fields."
    if params.hasBias and mixed_precision(weights_type, bias_type):
        return (
            f"Convolution layer {name}has unmatched precisions of weights/bias They should "
            "either be half or full precision."
        )
    expected, dims = _conv_expected(params)
    if weights_type in _FLOATS:
        size = float_count(params.weights, weights_type)
        if size != expected:
            kind = "Deconvolution" if params.isDeconvolution else "Convolution"
            return (
                f"{kind} layer '{name}' has weight matrix of size {size} to encode a {dims} "
                "convolution."
            )
        return None
    if weights_type is WeightType.QUINT:
        names = ("Convolution", name, "weight")
        return general_problem(params.weights, expected, params.outputChannels, names)
    return f"Layer {name}has not specified weights."


def _conv_bias_problem(layer: proto.NeuralNetworkLayer) -> str | None:
    params, name = layer.convolution, layer.name
    bias_type = value_type(params.bias)
    if not params.hasBias:
        return None
    if bias_type in _FLOATS:
        size = float_count(params.bias, bias_type)
        if size != params.outputChannels:
            return (
                f"Convolution layer '{name}' has a bias vector of size {size} but should be "
                f"{params.outputChannels}."
            )
        return None
    if bias_type is WeightType.QUINT:
        return general_problem(params.bias, params.outputChannels, 1, ("Convolution", name, "bias"))
    return f"Layer {name}has not specified bias."


def _conv_weights(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    """Y4: static weights and bias have one precision and the declared sizes."""
    if len(layer.input) > 1:
        return  # weights come from the second input: Core ML checks nothing more
    message = _conv_weights_problem(layer) or _conv_bias_problem(layer)
    if message:
        yield scope.error("Y4", layer, message)


# --- pooling ---------------------------------------------------------------------------------


def _pooling_padding(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    if layer.pooling.WhichOneof("PoolingPaddingType") is None:
        message = f"Padding type for the pooling layer '{layer.name}' is not set."
        yield scope.error("Y5", layer, message)


# --- padding, crop, resampling ---------------------------------------------------------------


def _padding_params(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    params, name = layer.padding, layer.name
    amounts = len(params.paddingAmounts.borderAmounts)
    message = None
    if amounts not in (0, 2):
        message = (
            f"Padding layer {name} specifies {amounts} padding amounts but it must either "
            "specify 2 (for x and y axes), or 0 for the default values."
        )
    elif params.WhichOneof("PaddingType") is None:
        message = f"Padding layer {name} padding type is not set."
    if message:
        yield scope.error("Y5", layer, message)


def _crop_params(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    params, name = layer.crop, layer.name
    if len(layer.input) == 1:
        n = len(params.cropAmounts.borderAmounts)
        if n != 2:
            message = (
                f"cropAmounts parameter for the crop layer '{name}' is of length {n} but "
                "requires exactly two crop constraints (for X,Y axes)."
            )
            yield scope.error("Y5", layer, message)
    elif len(params.offset) != 2:
        message = (
            f"Offset parameter for the crop layer '{name}' is of length {len(params.offset)} but "
            "requires exactly two offsets (for X,Y axes)."
        )
        yield scope.error("Y5", layer, message)


def _upsample_params(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    """Y5: at most one of scalingFactor / fractionalScalingFactor, of size 2; fractional
    scaling only with an align-corners mode; a linear mode only with bilinear sampling."""
    params, name = layer.upsample, layer.name
    integer, fractional = len(params.scalingFactor), len(params.fractionalScalingFactor)
    message = None
    valid = fractional in (0, 2) if integer == 0 else (fractional == 0 and integer == 2)
    if not valid:
        message = (
            f"Invalid scaling factor in upsampling layer '{name}'. Only one of scalingFactor and "
            "fractionalScalingFactor can be set, and if set, must be of size 2. Found "
            f"scalingFactor of size {integer} and fractionalScalingFactor of size {fractional}"
        )
    elif fractional == 2 and (
        params.mode == _UPSAMPLE_NN or params.linearUpsampleMode == _LINEAR_DEFAULT
    ):
        message = (
            f"Invalid upsample layer '{name}'. Fractional upsample only compatible with "
            "align_corners=true or align_corners=false"
        )
    elif params.linearUpsampleMode != _LINEAR_DEFAULT and params.mode == _UPSAMPLE_NN:
        message = (
            f"Layer '{name}' of type Upsample uses Nearest Neighbors but uses linear upsampling "
            "mode other than DEFAULT."
        )
    if message:
        yield scope.error("Y5", layer, message)


def _target_size(kind: str, words: str) -> LayerRule:
    """Y5: a resize's targetSize is empty or (height, width)."""

    def rule(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
        n = len(getattr(layer, kind).targetSize)
        if n not in (0, 2):
            message = (
                f"Target Size in the {words} layer '{layer.name}' must be a vector of size 2 (i.e "
                f"height, width) but is a vector of size {n}."
            )
            yield scope.error("Y5", layer, message)

    return rule


def _block_size(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    if int32(layer.reorganizeData.blockSize) < 2:
        yield scope.error("Y5", layer, f"Block size for layer '{layer.name}' must be > 1.")


RULES = {
    "convolution": (counts(1, 2), _conv_mode, _conv_structure, _conv_weights),
    "pooling": (counts(1, 1), nd_ranks("Pooling", 4, -1), _pooling_padding),
    "padding": (counts(1, 1), nd_ranks("Padding", 2, -1), _padding_params),
    "crop": (counts(1, 2), two_input_ranks("Crop", 3), _crop_params),
    "upsample": (counts(1, 1), nd_ranks("Upsample", 3, -1), _upsample_params),
    "resizeBilinear": (
        counts(1, 1),
        nd_ranks("ResizeBilinear", 3, -1),
        _target_size("resizeBilinear", "resize bilinear"),
    ),
    "cropResize": (
        counts(2, 2),
        two_input_ranks("CropResize", 5),
        _target_size("cropResize", "crop resize"),
    ),
    "reorganizeData": (counts(1, 1), nd_ranks("ReorganizeData", 3, -1), _block_size),
}
