"""Core ML's per-layer checks of the activation, elementwise, reshaping and reduction kinds, old
(iOS 11/12) and N-d (Core ML 3/4): each case turns a valid network into one Core ML rejects,
with its exact message and rule id."""

from __future__ import annotations

import pytest

from tests.builders import every_layer
from tests.layer_mutations import (
    cases,
    check_case,
    input_shape,
    output_shape,
    p,
    ranks,
    then,
)
from updatable.validation import core_ml_issue


def _rank(kind: str, rank: int, words: str, blob: str = "input") -> str:
    return f"Layer 'L' of type '{kind}' has {blob} rank {rank} but expects rank {words}."


def _equal(kind: str, what: str = "input and output") -> str:
    return f"Layer 'L' of type '{kind}' expects equal ranks for its {what}, but they are not equal."


def _activation(setup):
    def mutate(spec, layer) -> None:
        layer.activation.Clear()
        layer.activation.SetInParent()
        setup(layer.activation)

    return mutate


def _prelu(params) -> None:
    params.PReLU.alpha.floatValue.append(0.1)
    params.PReLU.alpha.float16Value = b"\x00\x3c"


_INCONSISTENT = (
    "Nonlinearity type MLActivationParamsNonlinearityType_{} has inconsistent weight parameter "
    "types."
)
_AXIS = "Value of axis must be in the range [-rank(tensor), rank(tensor)) for 'L' layer."

LEGACY = [
    (
        "activation",
        [_activation(lambda a: None)],
        "Y5",
        "Nonlinearity type INVALID is not supported in this version of CoreML.",
    ),
    ("activation", [_activation(_prelu)], "Y5", _INCONSISTENT.format("PReLU")),
    (
        "activation",
        [_activation(lambda a: a.parametricSoftplus.alpha.floatValue.append(1.0))],
        "Y5",
        _INCONSISTENT.format("parametricSoftplus"),
    ),
    (
        "activation",
        [_activation(lambda a: a.PReLU.alpha.floatValue.append(0.1)), input_shape("x0", [4, 4])],
        "Y3",
        _rank("ActivationPReLU", 2, "at least 3"),
    ),
    (
        "activation",
        [
            _activation(
                lambda a: (
                    a.parametricSoftplus.alpha.floatValue.append(1.0),
                    a.parametricSoftplus.beta.floatValue.append(1.0),
                )
            ),
            output_shape("y0", [2, 4, 4]),
        ],
        "Y3",
        _equal("ActivationParametricSoftplus"),
    ),
    ("softmax", [input_shape("x0", [4, 4])], "Y3", _rank("Softmax", 2, "at least 3")),
    ("lrn", [p(k=-1.0)], "Y5", "Parameter 'K' for the LRN layer 'L' must be positive."),
    ("lrn", [input_shape("x0", [16])], "Y3", _rank("LRNLayer", 1, "at least 3")),
    ("l2normalize", [input_shape("x0", [16])], "Y3", _rank("L2Normalize", 1, "at least 3")),
    ("mvn", [output_shape("y0", [16])], "Y3", _equal("MeanVarianceNormalize")),
    ("unary", [output_shape("y0", [16])], "Y3", _equal("Unary")),
    ("dot", [input_shape("x1", [1, 2, 4, 4])], "Y3", _equal("DotProduct", "inputs")),
    (
        "dot",
        [input_shape("x0", [4, 4]), input_shape("x1", [4, 4])],
        "Y3",
        _rank("DotProduct", 2, "at least 3"),
    ),
    ("reshape", [p(targetShape=[32])], "Y5", "Reshape layer 'L' target shape must be 3D or 4D."),
    ("reshape", [input_shape("x0", [2, 4, 4])], "Y3", _rank("Reshape", 3, "exactly 5")),
    ("flatten", [input_shape("x0", [4, 4])], "Y3", _rank("Flatten", 2, "at least 3")),
    ("permute", [p(axis=[0, 1, 2])], "Y5", "Permute layer 'L' must have 4D axis parameters."),
    ("permute", [output_shape("y0", [1, 2, 4, 4])], "Y3", _equal("Permute")),
    (
        "reduce",
        [input_shape("x0", [4, 4]), ranks(inputs=(2,))],
        "Y3",
        "Reduce layer 'L': input's rank is smaller than the dimensions provided in the axis "
        "parameter",
    ),
    (
        "reduce",
        [p(axis=(1 << 31) - 1), ranks(inputs=(5,))],
        "Y5",
        "Reduce layer: 'L': unknown value for parameter 'axis'.",
    ),
    ("reduce", [ranks(inputs=(5,), outputs=(4,))], "Y3", _equal("Reduce")),
    (
        "slice",
        [p(axis=5), ranks(inputs=(5,))],
        "Y5",
        "Slice layer: 'L': unknown value for parameter 'axis'.",
    ),
    (
        "slice",
        [input_shape("x0", [4, 4]), ranks(inputs=(2,))],
        "Y3",
        "Slice layer 'L': input's rank is smaller than the dimension provided in the axis "
        "parameter",
    ),
    ("slice", [p(stride=0)], "Y5", "Stride length for the slice layer 'L' must be > 1."),
    (
        "slice",
        [p(startIndex=3, endIndex=2)],
        "Y5",
        "Slice layer L has an end index before the start index.",
    ),
    (
        "slice",
        [p(startIndex=-1, endIndex=-3)],
        "Y5",
        "Slice layer L has an end index before the start index.",
    ),
    (
        "split",
        [output_shape("y0", [1, 1, 2, 4, 4]), output_shape("y1", [2, 4, 4])],
        "Y3",
        "Layer 'L' of type 'Split' must have equal ranks for its outputs, but they are not equal.",
    ),
    ("split", [input_shape("x0", [4, 4])], "Y3", _rank("Split", 2, "at least 3")),
    ("concat", [input_shape("x1", [2, 4, 4])], "Y3", _equal("Concat", "inputs")),
    (
        "concat",
        [p(sequenceConcat=True), input_shape("x0", [2, 4, 4]), input_shape("x1", [2, 4, 4])],
        "Y3",
        _rank("Concat", 3, "at least 5"),
    ),
    (
        "sequenceRepeat",
        [input_shape("x0", [2, 4, 4])],
        "Y3",
        _rank("SequenceRepeat", 3, "at least 5"),
    ),
    (
        "custom",
        [p(className="")],
        "Y5",
        "Custom layer L has an empty 'className' field. This field is required in order for Core "
        "ML to link to the implementation for this custom class.",
    ),
    (
        "custom",
        [then(lambda spec, layer: layer.custom.weights.add())],
        "Y4",
        "Custom layer L has a weights parameter with multiple types filled in.  The WeightParams "
        "message should be treated as a oneof.",
    ),
]

_ARGSORT = (
    "Value of 'axis' is 5, but it must be in the range [0,5) for layer of type 'ArgSort' and "
    "name 'L'."
)
ND_TENSOR = [
    ("transpose", [p(axes=[])], "Y5", "Axes are required parameters for 'L' layer."),
    ("concatND", [p(axis=5), ranks(inputs=(5, 5))], "Y5", _AXIS),
    ("softmaxND", [p(axis=-6), ranks(inputs=(5,))], "Y5", _AXIS),
    ("flattenTo2D", [p(axis=7), ranks(inputs=(5,))], "Y5", _AXIS),
    ("slidingWindows", [p(axis=-9), ranks(inputs=(5,))], "Y5", _AXIS),
    ("topK", [p(axis=5), ranks(inputs=(5,))], "Y5", _AXIS),
    ("argMax", [p(axis=5), ranks(inputs=(5,))], "Y5", _AXIS),
    ("argMin", [p(axis=-6), ranks(inputs=(5,))], "Y5", _AXIS),
    (
        "reverse",
        [p(reverseDim=[True]), ranks(inputs=(5,))],
        "Y5",
        "Invalid size of reverse_dim for 'L' layer.",
    ),
    (
        "rankPreservingReshape",
        [ranks()],
        "Y3",
        "Layer 'L' must have rank specified for its input and output.",
    ),
    (
        "rankPreservingReshape",
        [p(targetShape=[])],
        "Y5",
        "Target shape is required parameter for 'L' layer.",
    ),
    (
        "rankPreservingReshape",
        [ranks(inputs=(5,), outputs=(4,))],
        "Y3",
        "RankPreservingReshape Layer 'L': input and output rank must be equal.",
    ),
    (
        "rankPreservingReshape",
        [p(targetShape=[2, 16])],
        "Y3",
        "RankPreservingReshape Layer 'L': input rank must be same as the length of the target "
        "shape property.",
    ),
    (
        "expandDims",
        [p(axes=[])],
        "Y5",
        "ExpandDims Layer 'L': length of the 'axes' parameter cannot be 0.",
    ),
    (
        "expandDims",
        [p(axes=[1, 1])],
        "Y5",
        "ExpandDims Layer 'L': all the values in the 'axes' parameter must be unique.",
    ),
    (
        "expandDims",
        [ranks(inputs=(5,), outputs=(5,))],
        "Y3",
        "ExpandDims Layer 'L': input rank plus the length of the axes parameter must equal output "
        "rank.",
    ),
    (
        "expandDims",
        [p(axes=[1, -6]), ranks(inputs=(5,), outputs=(7,))],
        "Y5",
        "ExpandDims Layer 'L': axes parameter list cannot have the same value more than once.",
    ),
    (
        "expandDims",
        [p(axes=[6]), ranks(inputs=(5,), outputs=(6,))],
        "Y5",
        "ExpandDims Layer 'L': axes refers to a dimension that exceeds the output rank.",
    ),
    (
        "squeeze",
        [p(squeezeAll=False)],
        "Y5",
        "Squeeze Layer 'L': length of the 'axes' parameter cannot be 0.",
    ),
    (
        "squeeze",
        [p(squeezeAll=False, axes=[0, 0])],
        "Y5",
        "Squeeze Layer 'L': all the values in the 'axes' parameter must be unique.",
    ),
    (
        "squeeze",
        [p(squeezeAll=False, axes=[0]), ranks(inputs=(5,), outputs=(5,))],
        "Y3",
        "Squeeze Layer 'L': output rank plus the length of the axes parameter must equal input "
        "rank.",
    ),
    (
        "squeeze",
        [p(squeezeAll=False, axes=[0, -5]), ranks(inputs=(5,), outputs=(3,))],
        "Y5",
        "Squeeze Layer 'L': axes parameter list cannot have the same value more than once.",
    ),
    (
        "squeeze",
        [p(squeezeAll=False, axes=[5]), ranks(inputs=(5,), outputs=(4,))],
        "Y5",
        "Squeeze Layer 'L': axes refers to a dimension that exceeds the input rank.",
    ),
    (
        "reshapeStatic",
        [p(targetShape=[])],
        "Y5",
        "Target shape is required parameter for 'L' layer.",
    ),
    (
        "broadcastToStatic",
        [p(targetShape=[])],
        "Y5",
        "Target shape is required parameter for 'L' layer.",
    ),
    ("fillStatic", [p(targetShape=[])], "Y5", "Target shape is required parameter for 'L' layer."),
    (
        "scatter",
        [input_shape("x1", [2]), input_shape("x2", [2, 4, 4]), ranks(inputs=(5, 1, 3))],
        "Y3",
        "Input ranks of Scatter layer 'L' are invalid.",
    ),
    (
        "scatter",
        [input_shape("x1", [2]), ranks(inputs=(5, 1, 5), outputs=(4,))],
        "Y3",
        "Output rank of Scatter layer 'L' does not match container input.",
    ),
    (
        "stack",
        [input_shape("x1", [2, 4, 4]), ranks(inputs=(5, 3))],
        "Y3",
        "Shapes of all inputs must match for 'L' layer.",
    ),
    (
        "stack",
        [p(axis=6), ranks(inputs=(5, 5))],
        "Y5",
        "Value of axis must be in the range [-rank(tensor), rank(tensor)] for 'L' layer.",
    ),
    (
        "splitND",
        [p(numSplits=0)],
        "Y5",
        "Either split_sizes or num_splits should be provided for 'L' layer.",
    ),
    ("splitND", [p(axis=5), ranks(inputs=(5,))], "Y5", _AXIS),
    (
        "splitND",
        [p(splitSizes=[1, 1, 2])],
        "Y5",
        "Value of num_splits should match size of output names for 'L' layer.",
    ),
    ("sliceStatic", [p(beginIds=[])], "Y5", "Begin IDs are required parameters for 'L' layer."),
    ("sliceStatic", [p(endIds=[])], "Y5", "End IDs are required parameters for 'L' layer."),
    ("sliceStatic", [p(strides=[])], "Y5", "Strides are required parameters for 'L' layer."),
    ("sliceStatic", [p(beginMasks=[])], "Y5", "Begin masks are required parameters for 'L' layer."),
    ("sliceStatic", [p(endMasks=[])], "Y5", "End masks are required parameters for 'L' layer."),
    ("rangeStatic", [ranks(outputs=(2,))], "Y3", _rank("Range", 2, "exactly 1", "output")),
    (
        "rangeDynamic",
        [input_shape("x0", [1]), ranks(inputs=(1,), outputs=(2,))],
        "Y3",
        _rank("Range", 2, "exactly 1", "output"),
    ),
    (
        "constantPad",
        [p(padAmounts=[0])],
        "Y5",
        "In 'ConstantPad' layer 'L', length of 'padAmounts' parameter is 1, an odd value, which is "
        "not allowed.",
    ),
    (
        "constantPad",
        [p(padAmounts=[])],
        "Y5",
        "In 'ConstantPad' layer 'L', length of 'padAmounts' cannot be zero when only 1 input is "
        "provided.",
    ),
    (
        "constantPad",
        [p(padToGivenOutputSizeMode=True, padAmounts=[0, 1, 2, 3])],
        "Y5",
        "In 'ConstantPad' layer 'L', 'padToGivenOutputSizeMode' is true, and both padding values "
        "corresponding to dimension 1 are non zero, which is invalid. Only one value can be "
        "non-zero.",
    ),
    ("constantPad", [output_shape("y0", [4])], "Y3", _equal("ConstantPad")),
    ("topK", [output_shape("y0", [4])], "Y3", _equal("TopK")),
    ("topK", [output_shape("y1", [4])], "Y3", _equal("TopK", "input and second output")),
    ("argMax", [output_shape("y0", [4])], "Y3", _equal("ArgMax")),
    ("argMin", [output_shape("y0", [4])], "Y3", _equal("ArgMin")),
    (
        "argSort",
        [p(axis=-1)],
        "Y5",
        "Value of 'axis' is negative for layer of type 'ArgSort' and name 'L', which is not "
        "supported. It must be positive.",
    ),
    ("argSort", [p(axis=5), ranks(inputs=(5,))], "Y5", _ARGSORT),
    ("argSort", [output_shape("y0", [4])], "Y3", _equal("Argsort")),
]
ND_TENSOR += [
    (kind, [p(axes=[0, 5]), ranks(inputs=(5,))], "Y5", _AXIS)
    for kind in (
        "reduceL1 reduceL2 reduceMax reduceMin reduceSum reduceProd reduceMean reduceLogSum "
        "reduceSumSquare reduceLogSumExp"
    ).split()
]

_MIN_MAX = "Value of minval should be smaller than maxval for 'L' layer."
_PROB = "Value of prob should be in range [0: 1] for 'L' layer."
ND_MATH = [
    ("clip", [p(minVal=2.0, maxVal=1.0)], "Y5", _MIN_MAX),
    ("randomUniformLike", [p(minVal=2.0)], "Y5", _MIN_MAX),
    ("randomUniformStatic", [p(minVal=2.0)], "Y5", _MIN_MAX),
    ("randomUniformDynamic", [p(minVal=2.0)], "Y5", _MIN_MAX),
    (
        "randomNormalStatic",
        [p(outputShape=[])],
        "Y5",
        "Target shape is required parameter for 'L' layer.",
    ),
    (
        "randomUniformStatic",
        [p(outputShape=[])],
        "Y5",
        "Target shape is required parameter for 'L' layer.",
    ),
    (
        "randomBernoulliStatic",
        [p(outputShape=[])],
        "Y5",
        "Target shape is required parameter for 'L' layer.",
    ),
    ("randomBernoulliLike", [p(prob=1.5)], "Y5", _PROB),
    ("randomBernoulliStatic", [p(prob=-0.5)], "Y5", _PROB),
    ("randomBernoulliDynamic", [p(prob=2.0)], "Y5", _PROB),
]


@pytest.mark.parametrize(
    ("kind", "mutations", "code", "message"), cases(LEGACY + ND_TENSOR + ND_MATH)
)
def test_core_ml_rejects(kind, mutations, code, message):
    check_case(kind, mutations, code, message)


def _valid_after(kind: str, *mutations) -> bool:
    spec = every_layer.network(kind)
    layer = every_layer.nested(spec)
    for mutate in mutations:
        mutate(spec, layer)
    return core_ml_issue(spec) is None


def test_what_core_ml_does_not_check():
    """Checks Core ML leaves out, ported as they are."""
    assert _valid_after("reduce", p(axis=7), ranks(inputs=(5,)))  # unknown axis values pass
    assert _valid_after("concatND", p(axis=9))  # no declared rank: the axis is not checked
    assert _valid_after("squeeze", p(squeezeAll=False, axes=[9]))
    assert _valid_after("randomBernoulliLike", p(prob=float("nan")))  # NaN compares false
    # a rank-1 input's squeeze: the rank relation is not tested
    assert _valid_after(
        "squeeze", input_shape("x0", [1]), p(squeezeAll=False, axes=[0]), ranks((1,), (1,))
    )
    assert _valid_after("argMax", p(removeDim=True), output_shape("y0", [4]))
    assert _valid_after(
        "constantPad", then(lambda spec, layer: layer.input.append("x0")), p(padAmounts=[])
    )
