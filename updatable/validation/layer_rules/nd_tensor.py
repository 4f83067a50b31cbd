"""Spec side, validation layer: Core ML's per-layer rules of the N-d tensor kinds (Core ML 3
and 4): reshapes, transposes, squeeze / expandDims, concatenation and splitting, slicing,
gathering and scattering, padding, broadcasting, fills and ranges, sorting and reductions.

Source: coremltools ``mlmodel/src/Validation/NeuralNetwork/NeuralNetworkLayerValidator.cpp``
(``validateTransposeLayer``, ``validateConcatNDLayer``, ``validateSoftmaxNDLayer``,
``validateReverseLayer``, ``validateRankPreservingReshapeLayer``, ``validateExpandDimsLayer``,
``validateSqueezeLayer``, ``validateFlattenTo2DLayer``, ``validateReshape*``,
``validateBroadcastTo*``, ``validateGather*`` / ``validateScatter*``, ``validateStackLayer``,
``validateSplitNDLayer``, ``validateSlice*``, ``validateTileLayer``,
``validateSlidingWindowsLayer``, ``validateFill*``, ``validateRange*``,
``validateConstantPadLayer``, ``validateTopKLayer``, ``validateArgMax/MinLayer``,
``validateArgsortLayer``, ``validateReductionTypeLayer``, ...). Core ML checks an axis only
against the rank a layer declares in ``inputTensor`` (converters rarely fill it), and many
kinds only count their inputs and outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from updatable import proto
from updatable.validation.issues import Issue
from updatable.validation.layer_rules.scope import (
    LayerRule,
    Scope,
    axis_in_range,
    check_rank,
    counts,
    int32,
    rank_equality,
    rank_equality_problem,
    required,
    target_shape_required,
)


def _axes_problem(
    layer: proto.NeuralNetworkLayer, word: str, rank_words: tuple[str, str]
) -> tuple[str, str] | None:
    """expandDims / squeeze ``axes``: given, unique; with declared ranks, consistent with
    them. ``rank_words`` = ("output"/"input" rank the axes index, the relation's message)."""
    params = getattr(layer, "expandDims" if word == "ExpandDims" else "squeeze")
    head = f"{word} Layer '{layer.name}':"
    axes = [int32(a) for a in params.axes]
    if not axes:
        return "Y5", f"{head} length of the 'axes' parameter cannot be 0."
    if len(set(axes)) != len(axes):
        return "Y5", f"{head} all the values in the 'axes' parameter must be unique."
    if not (len(layer.inputTensor) and len(layer.outputTensor)):
        return None
    in_rank, out_rank = int32(layer.inputTensor[0].rank), int32(layer.outputTensor[0].rank)
    if word == "ExpandDims":
        bound, consistent = out_rank, in_rank + len(axes) == out_rank
    else:  # Core ML does not test the ranks of a rank-1 input's squeeze
        bound, consistent = in_rank, in_rank == 1 or out_rank + len(axes) == in_rank
    if not consistent:
        return "Y3", f"{head} {rank_words[1]}"
    normalized = [bound + a if a < 0 else a for a in axes]
    if len(set(normalized)) != len(normalized):
        return "Y5", f"{head} axes parameter list cannot have the same value more than once."
    if max(normalized) > bound - 1 or min(normalized) < 0:
        return "Y5", f"{head} axes refers to a dimension that exceeds the {rank_words[0]} rank."
    return None


def _expand_dims(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    words = ("output", "input rank plus the length of the axes parameter must equal output rank.")
    problem = _axes_problem(layer, "ExpandDims", words)
    if problem:
        yield scope.error(problem[0], layer, problem[1])


def _squeeze(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    if layer.squeeze.squeezeAll:
        return
    words = ("input", "output rank plus the length of the axes parameter must equal input rank.")
    problem = _axes_problem(layer, "Squeeze", words)
    if problem:
        yield scope.error(problem[0], layer, problem[1])


def _rank_preserving_reshape(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    """Y3 / Y5: ranks declared for input and output, a target shape of that rank."""
    name, target = layer.name, layer.rankPreservingReshape.targetShape
    problem = None
    if not (len(layer.inputTensor) and len(layer.outputTensor)):
        problem = "Y3", f"Layer '{name}' must have rank specified for its input and output."
    elif not len(target):
        problem = "Y5", f"Target shape is required parameter for '{name}' layer."
    elif int32(layer.inputTensor[0].rank) != int32(layer.outputTensor[0].rank):
        problem = (
            "Y3",
            f"RankPreservingReshape Layer '{name}': input and output rank must be equal.",
        )
    elif int32(layer.inputTensor[0].rank) != len(target):
        problem = (
            "Y3",
            (
                f"RankPreservingReshape Layer '{name}': input rank must be same as the length of "
                "the target shape property."
            ),
        )
    if problem:
        yield scope.error(problem[0], layer, problem[1])


def _reverse_dims(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    if len(layer.inputTensor):
        if len(layer.reverse.reverseDim) != int32(layer.inputTensor[0].rank):
            message = f"Invalid size of reverse_dim for '{layer.name}' layer."
            yield scope.error("Y5", layer, message)


def _scatter_ranks(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    """Y3 (N-d, declared ranks): data and updates share a rank, indices are rank 1, the
    output has the data's rank."""
    if not scope.nd or not len(layer.inputTensor):
        return
    tensors_in, tensors_out, name = layer.inputTensor, layer.outputTensor, layer.name
    message = None
    if len(tensors_in) != 3:
        message = "Scatter layer must have 3 input tensor fields filled"
    elif not (tensors_in[0].rank == tensors_in[2].rank and tensors_in[1].rank == 1):
        message = f"Input ranks of Scatter layer '{name}' are invalid."
    elif len(tensors_out) and len(tensors_out) != 1:
        message = "Scatter layer must have 1 output tensor fields filled"
    elif len(tensors_out) and tensors_in[0].rank != tensors_out[0].rank:
        message = f"Output rank of Scatter layer '{name}' does not match container input."
    if message:
        yield scope.error("Y3", layer, message)


def _stack(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    """Y3 / Y5: the first two declared ranks match; -(rank+1) <= axis < rank+1."""
    if not len(layer.inputTensor):
        return
    rank0, rank1 = int32(layer.inputTensor[0].rank), int32(layer.inputTensor[1].rank)
    if rank0 != rank1:
        message = f"Shapes of all inputs must match for '{layer.name}' layer."
        yield scope.error("Y3", layer, message)
    elif not -(rank0 + 1) <= layer.stack.axis < rank0 + 1:
        message = (
            "Value of axis must be in the range [-rank(tensor), rank(tensor)] for "
            f"'{layer.name}' layer."
        )
        yield scope.error("Y5", layer, message)


def _split_count(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    """Y5: splitSizes (or numSplits) given; the axis fits; one output per split."""
    params, name = layer.splitND, layer.name
    splits = len(params.splitSizes) or params.numSplits
    if not splits:
        message = f"Either split_sizes or num_splits should be provided for '{name}' layer."
        yield scope.error("Y5", layer, message)
        return
    for issue in axis_in_range(lambda x: x.splitND.axis)(layer, scope):
        yield issue
        return
    if splits != len(layer.output):
        message = f"Value of num_splits should match size of output names for '{name}' layer."
        yield scope.error("Y5", layer, message)


_SLICE_STATIC_FIELDS = (
    ("beginIds", "Begin IDs"),
    ("endIds", "End IDs"),
    ("strides", "Strides"),
    ("beginMasks", "Begin masks"),
    ("endMasks", "End masks"),
)


def _slice_static(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    for field, words in _SLICE_STATIC_FIELDS:
        if not len(getattr(layer.sliceStatic, field)):
            message = f"{words} are required parameters for '{layer.name}' layer."
            yield scope.error("Y5", layer, message)
            return


def _range_rank(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    """Y3: a range's declared output rank is 1."""
    if len(layer.outputTensor):
        rank = int32(layer.outputTensor[0].rank)
        message = check_rank(layer, "Range", (1, 1), "output", rank)
        if message:
            yield scope.error("Y3", layer, message)


def _range_dynamic_counts(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    """Y2: 1 to 3 inputs when it has any."""
    rule = _ONE_TO_THREE if len(layer.input) else _NONE
    yield from rule(layer, scope)


def _constant_pad(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    """Y5 (one input): an even, non-empty padAmounts; in padToGivenOutputSizeMode at most one
    non-zero amount per dimension."""
    params, name = layer.constantPad, layer.name
    if len(layer.input) != 1:
        return
    amounts, head = list(params.padAmounts), f"In 'ConstantPad' layer '{name}',"
    message = None
    if len(amounts) % 2:
        message = (
            f"{head} length of 'padAmounts' parameter is {len(amounts)}, an odd value, which is "
            "not allowed."
        )
    elif not amounts:
        message = f"{head} length of 'padAmounts' cannot be zero when only 1 input is provided."
    elif params.padToGivenOutputSizeMode:
        for i in range(len(amounts) // 2):
            if int32(amounts[2 * i]) > 0 and int32(amounts[2 * i + 1]) > 0:
                message = (
                    f"{head} 'padToGivenOutputSizeMode' is true, and both padding values "
                    f"corresponding to dimension {i} are non zero, which is invalid. Only one "
                    "value can be non-zero."
                )
                break
    if message:
        yield scope.error("Y5", layer, message)


def _top_k_ranks(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    """Y3: input and both outputs share known ranks (in any network)."""
    message = rank_equality_problem(layer, scope, "TopK")
    first_in, second_out = layer.input[0], layer.output[1]
    if not message and first_in in scope.ranks and second_out in scope.ranks:
        if scope.ranks[first_in] != scope.ranks[second_out]:
            message = (
                f"Layer '{layer.name}' of type 'TopK' expects equal ranks for its input and second "
                "output, but they are not equal."
            )
    if message:
        yield scope.error("Y3", layer, message)


def _arg_ranks(kind: str) -> LayerRule:
    """Y3: argMax / argMin keep the rank unless ``removeDim``."""
    title = "ArgMax" if kind == "argMax" else "ArgMin"

    def rule(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
        if not getattr(layer, kind).removeDim:
            yield from rank_equality(title)(layer, scope)

    return rule


def _arg_sort(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    """Y5: 0 <= axis < declared rank."""
    axis, name = layer.argSort.axis, layer.name
    message = None
    if axis < 0:
        message = (
            f"Value of 'axis' is negative for layer of type 'ArgSort' and name '{name}', which is "
            "not supported. It must be positive."
        )
    elif len(layer.inputTensor) and axis >= int32(layer.inputTensor[0].rank):
        rank = int32(layer.inputTensor[0].rank)
        message = (
            f"Value of 'axis' is {axis}, but it must be in the range [0,{rank}) for layer of type "
            f"'ArgSort' and name '{name}'."
        )
    if message:
        yield scope.error("Y5", layer, message)


def _constant(axis: int) -> Callable[[proto.NeuralNetworkLayer], int]:
    """A getter of ``axis_in_range`` that returns ``axis`` whatever the layer."""
    return lambda layer: axis


def _reduction_axes(kind: str) -> LayerRule:
    """Y5: every axis of a reduce* layer within the declared input rank."""

    def rule(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
        for axis in getattr(layer, kind).axes:
            for issue in axis_in_range(_constant(int(axis)))(layer, scope):
                yield issue
                return

    return rule


_ONE = counts(1, 1)
_TWO = counts(2, 2)
_ONE_TO_THREE = counts(1, 3)
_NONE = counts(0, 0)
_REDUCTIONS = (
    "reduceL1 reduceL2 reduceMax reduceMin reduceSum reduceProd reduceMean reduceLogSum "
    "reduceSumSquare reduceLogSumExp"
).split()

RULES = {
    "transpose": (
        _ONE,
        required(
            lambda x: len(x.transpose.axes), "Axes are required parameters for '{name}' layer."
        ),
    ),
    "concatND": (counts(2, -1), axis_in_range(lambda x: x.concatND.axis)),
    "softmaxND": (_ONE, axis_in_range(lambda x: x.softmaxND.axis)),
    "reverse": (_ONE, _reverse_dims),
    "reverseSeq": (_TWO,),
    "rankPreservingReshape": (_ONE, _rank_preserving_reshape),
    "expandDims": (_ONE, _expand_dims),
    "squeeze": (_ONE, _squeeze),
    "flattenTo2D": (_ONE, axis_in_range(lambda x: x.flattenTo2D.axis)),
    "reshapeLike": (_TWO,),
    "reshapeStatic": (_ONE, target_shape_required(lambda x: len(x.reshapeStatic.targetShape))),
    "reshapeDynamic": (_TWO,),
    "broadcastToLike": (_TWO,),
    "broadcastToStatic": (
        _ONE,
        target_shape_required(lambda x: len(x.broadcastToStatic.targetShape)),
    ),
    "broadcastToDynamic": (_TWO,),
    "gather": (_TWO,),
    "scatter": (counts(3, 3), _scatter_ranks),
    "gatherND": (_TWO,),
    "scatterND": (counts(3, 3),),
    "gatherAlongAxis": (_TWO,),
    "scatterAlongAxis": (counts(3, 3),),
    "whereNonZero": (_ONE,),
    "stack": (counts(2, -1), _stack),
    "splitND": (counts(1, 1, 2, -1), _split_count),
    "sliceStatic": (_ONE, _slice_static),
    "sliceDynamic": (counts(2, 7),),
    "sliceBySize": (_TWO,),
    "tile": (counts(1, 2),),
    "slidingWindows": (_ONE, axis_in_range(lambda x: x.slidingWindows.axis)),
    "getShape": (_ONE,),
    "fillLike": (_ONE,),
    "fillStatic": (counts(0, 0), target_shape_required(lambda x: len(x.fillStatic.targetShape))),
    "fillDynamic": (_ONE,),
    "rangeStatic": (counts(0, 0), _range_rank),
    "rangeDynamic": (_range_dynamic_counts, _range_rank),
    "constantPad": (counts(1, 2), rank_equality("ConstantPad"), _constant_pad),
    "topK": (counts(1, 2, 2, 2), _top_k_ranks, axis_in_range(lambda x: x.topK.axis)),
    "argMax": (_ONE, _arg_ranks("argMax"), axis_in_range(lambda x: x.argMax.axis)),
    "argMin": (_ONE, _arg_ranks("argMin"), axis_in_range(lambda x: x.argMin.axis)),
    "argSort": (_ONE, rank_equality("Argsort"), _arg_sort),
    **{kind: (_ONE, _reduction_axes(kind)) for kind in _REDUCTIONS},
}
