"""Spec side, validation layer: Core ML's per-layer rules of the remaining iOS 11/12 kinds:
activation, softmax, lrn, l2normalize, mvn, unary, the multi-input arithmetic (add,
multiply, average, max, min, dot), reshape, flatten, permute, reduce, slice, split, concat,
sequenceRepeat and custom.

Source: coremltools ``mlmodel/src/Validation/NeuralNetwork/NeuralNetworkLayerValidator.cpp``
(``validateActivation``, ``validateSoftmaxLayer``, ``validateLRNLayer``, ``validateL2NormLayer``,
``validateMvnLayer``, ``validateUnaryFunctionLayer``, ``validateAddLayer`` ...
``validateDotLayer``, ``validateReshapeLayer``, ``validateFlattenLayer``,
``validatePermuteLayer``, ``validateReduceLayer``, ``validateSliceLayer``,
``validateSplitLayer``, ``validateConcatLayer``, ``validateSequenceRepeatLayer``,
``validateCustomLayer``) and ``NeuralNetworkValidatorUtils.hpp``
(``validateActivationParams``). Rank rules apply to N-d networks only; reduce and slice
check their axis against the rank a layer declares in ``inputTensor``.
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
    nd_rank_equality,
    nd_ranks,
    rank_count_problem,
    rank_equality_problem,
    same_ranks_problem,
    two_input_ranks,
)
from updatable.validation.layer_rules.weights import WeightType, filled_fields, value_type

_NN = proto.NeuralNetwork_pb2
# the least rank each ReduceLayerParams.axis needs (an enum value outside is not checked)
_REDUCE_RANKS = {
    _NN.ReduceLayerParams.CHW: 3,
    _NN.ReduceLayerParams.HW: 2,
    _NN.ReduceLayerParams.H: 1,
    _NN.ReduceLayerParams.W: 1,
    _NN.ReduceLayerParams.C: 1,
}
_SENTINELS = (-(1 << 31), (1 << 31) - 1)  # the generated enum's INT_MIN / INT_MAX sentinels
_SLICE_RANKS = {
    _NN.SliceLayerParams.CHANNEL_AXIS: 3,
    _NN.SliceLayerParams.HEIGHT_AXIS: 2,
    _NN.SliceLayerParams.WIDTH_AXIS: 1,
}


def activation_type_problem(params: proto.Message) -> str | None:
    """``validateActivationParams``: a nonlinearity is set; PReLU and parametric softplus
    weights are filled once (and alike)."""
    kind = params.WhichOneof("NonlinearityType")
    if kind is None:
        return "Nonlinearity type INVALID is not supported in this version of CoreML."
    if kind == "PReLU":
        bad = value_type(params.PReLU.alpha) is WeightType.UNSPECIFIED
    elif kind == "parametricSoftplus":
        alpha = value_type(params.parametricSoftplus.alpha)
        beta = value_type(params.parametricSoftplus.beta)
        bad = alpha != beta or WeightType.UNSPECIFIED in (alpha, beta)
    else:
        return None
    if not bad:
        return None
    return (
        f"Nonlinearity type MLActivationParamsNonlinearityType_{kind} has inconsistent weight "
        "parameter types."
    )


def _activation(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    """Y3 (PReLU and parametric softplus, N-d: equal ranks, rank >= 3), then Y5 (the type)."""
    kind = layer.activation.WhichOneof("NonlinearityType")
    if scope.nd and kind in ("PReLU", "parametricSoftplus"):
        layer_type = "ActivationPReLU" if kind == "PReLU" else "ActivationParametricSoftplus"
        for issue in nd_ranks(layer_type, 3, -1)(layer, scope):
            yield issue
            return
    message = activation_type_problem(layer.activation)
    if message:
        yield scope.error("Y5", layer, message)


def _lrn_k(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    if layer.lrn.k < 0.0:
        message = f"Parameter 'K' for the LRN layer '{layer.name}' must be positive."
        yield scope.error("Y5", layer, message)


def _reshape_target(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    if len(layer.reshape.targetShape) not in (3, 4):
        message = f"Reshape layer '{layer.name}' target shape must be 3D or 4D."
        yield scope.error("Y5", layer, message)


def _permute_axes(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    if len(layer.permute.axis) != 4:
        message = f"Permute layer '{layer.name}' must have 4D axis parameters."
        yield scope.error("Y5", layer, message)


def _axis_rank(kind: str) -> LayerRule:
    """Y3 / Y5 (N-d, with a declared input rank): equal ranks; a known axis that the rank
    can hold (reduce, slice)."""
    table = _REDUCE_RANKS if kind == "reduce" else _SLICE_RANKS
    words = "dimensions" if kind == "reduce" else "dimension"
    title = kind.capitalize()

    def rule(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
        if not (scope.nd and len(layer.inputTensor)):
            return
        message = rank_equality_problem(layer, scope, title)
        if message:
            yield scope.error("Y3", layer, message)
            return
        axis, rank = getattr(layer, kind).axis, int32(layer.inputTensor[0].rank)
        if axis not in table and (kind == "slice" or axis in _SENTINELS):
            message = f"{title} layer: '{layer.name}': unknown value for parameter 'axis'."
            yield scope.error("Y5", layer, message)
        elif axis in table and rank < table[axis]:
            message = (
                f"{title} layer '{layer.name}': input's rank is smaller than the {words} provided "
                "in the axis parameter"
            )
            yield scope.error("Y3", layer, message)

    return rule


def _slice_range(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    """Y5: stride >= 1, and the end index is not before the start index."""
    params, name = layer.slice, layer.name
    start, end = params.startIndex, params.endIndex
    if int32(params.stride) < 1:
        message = f"Stride length for the slice layer '{name}' must be > 1."
        yield scope.error("Y5", layer, message)
    elif (0 < end < start) or (end < 0 and start < 0 and start > end):
        message = f"Slice layer {name} has an end index before the start index."
        yield scope.error("Y5", layer, message)


def _split_ranks(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    """Y3 (N-d): equal ranks, rank >= 3, the outputs share one rank."""
    if not scope.nd:
        return
    message = rank_equality_problem(layer, scope, "Split") or rank_count_problem(
        layer, scope, "Split", 3, -1
    )
    if not message:
        same = (
            f"Layer '{layer.name}' of type 'Split' must have equal ranks for its outputs, but "
            "they are not equal."
        )
        message = same_ranks_problem(layer, scope, list(layer.output), same)
    if message:
        yield scope.error("Y3", layer, message)


def _concat_ranks(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    """Y3 (N-d): equal ranks, rank >= 3 (>= 5 for a sequence concat), inputs of one rank."""
    if not scope.nd:
        return
    lo = 5 if layer.concat.sequenceConcat else 3
    message = rank_equality_problem(layer, scope, "Concat") or rank_count_problem(
        layer, scope, "Concat", lo, -1
    )
    if not message:
        same = (
            f"Layer '{layer.name}' of type 'Concat' expects equal ranks for its inputs, but they "
            "are not equal."
        )
        message = same_ranks_problem(layer, scope, list(layer.input), same)
    if message:
        yield scope.error("Y3", layer, message)


def _custom_params(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    """Y5 / Y4: a class name, and weights that each fill exactly one value field."""
    params, name = layer.custom, layer.name
    if not params.className:
        message = (
            f"Custom layer {name} has an empty 'className' field. This field is required in order "
            "for Core ML to link to the implementation for this custom class."
        )
        yield scope.error("Y5", layer, message)
    elif any(filled_fields(weights) != 1 for weights in params.weights):
        message = (
            f"Custom layer {name} has a weights parameter with multiple types filled in.  The "
            "WeightParams message should be treated as a oneof."
        )
        yield scope.error("Y4", layer, message)


_ANY_INPUTS = (counts(1, -1),)

RULES = {
    "activation": (counts(1, 1), _activation),
    "softmax": (counts(1, 1), nd_ranks("Softmax", 3, -1)),
    "lrn": (counts(1, 1), nd_ranks("LRNLayer", 3, -1), _lrn_k),
    "l2normalize": (counts(1, 1), nd_ranks("L2Normalize", 3, -1)),
    "mvn": (counts(1, 1), nd_ranks("MeanVarianceNormalize", 3, -1)),
    "unary": (counts(1, 1), nd_rank_equality("Unary")),
    "add": _ANY_INPUTS,
    "multiply": _ANY_INPUTS,
    "average": _ANY_INPUTS,
    "max": _ANY_INPUTS,
    "min": _ANY_INPUTS,
    "dot": (counts(2, 2), two_input_ranks("DotProduct", 3)),
    "reshape": (counts(1, 1), nd_ranks("Reshape", 5, 5), _reshape_target),
    "flatten": (counts(1, 1), nd_ranks("Flatten", 3, -1)),
    "permute": (counts(1, 1), nd_ranks("Permute", 5, 5), _permute_axes),
    "reduce": (counts(1, 1), _axis_rank("reduce")),
    "slice": (counts(1, 1), _axis_rank("slice"), _slice_range),
    "split": (counts(1, 1, 2, -1), _split_ranks),
    "concat": (counts(2, -1), _concat_ranks),
    "sequenceRepeat": (counts(1, 1), nd_ranks("SequenceRepeat", 5, -1)),
    "custom": (counts(1, -1, 1, -1), _custom_params),
}
