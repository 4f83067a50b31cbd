"""Spec side, validation layer: Core ML's per-layer rules of the N-d math kinds (Core ML 3
and 4): unary functions, broadcastable arithmetic and comparisons, logical operators,
where, clip, triangular masks, random sampling, one-hot, cumulative sum and non-maximum
suppression.

Source: coremltools ``mlmodel/src/Validation/NeuralNetwork/NeuralNetworkLayerValidator.cpp``
(``validateTrigonometryLayer``, ``validateExp2Layer``, ``validateCeil/Floor/Round/SignLayer``,
``validateClipLayer``, ``validateActivationLayers`` (erf, gelu, clampedReLU),
``validateBooleanElementwiseLayer``, ``validate*BroadcastableLayer``,
``validatePowBroadcastableLayer``, ``validateWhereLayer``, ``validateMatrixBandPartLayer``,
``validateUpper/LowerTriangularLayer``, ``validateRandom*Layer``,
``validateCategoricalDistributionLayer``, ``validateOneHotLayer``, ``validateCumSumLayer``,
``validateNMSLayer``). Most of these kinds are checked for their input and output counts only;
the rest of their contract (broadcastable shapes, data types) is not in Core ML's open
validator and so is not checked here.
"""

from __future__ import annotations

from collections.abc import Iterator

from updatable import proto
from updatable.validation.issues import Issue
from updatable.validation.layer_rules.scope import LayerRule, Scope, counts, target_shape_required


def _min_max(kind: str) -> LayerRule:
    """Y5: ``minval <= maxval`` (clip and the uniform random kinds)."""

    def rule(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
        params = getattr(layer, kind)
        if params.minVal > params.maxVal:
            message = f"Value of minval should be smaller than maxval for '{layer.name}' layer."
            yield scope.error("Y5", layer, message)

    return rule


def _probability(kind: str) -> LayerRule:
    """Y5: a Bernoulli probability in [0, 1] (NaN passes, as in Core ML's float compares)."""

    def rule(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
        prob = getattr(layer, kind).prob
        if prob < 0.0 or prob > 1.0:
            message = f"Value of prob should be in range [0: 1] for '{layer.name}' layer."
            yield scope.error("Y5", layer, message)

    return rule


def _output_shape(kind: str) -> LayerRule:
    """Y5: a static random layer names its output shape."""
    return target_shape_required(lambda layer: len(getattr(layer, kind).outputShape))


_ONE = (counts(1, 1),)
_TWO = (counts(2, 2),)
_NONE = counts(0, 0)  # checks nothing: Core ML only tests a positive maximum
_UNARY = (
    "sin cos tan asin acos atan sinh cosh tanh asinh acosh atanh exp2 ceil floor round sign "
    "erf gelu clampedReLU matrixBandPart upperTriangular lowerTriangular "
    "categoricalDistribution randomNormalLike randomNormalDynamic"
).split()
_BINARY = (
    "addBroadcastable subtractBroadcastable multiplyBroadcastable divideBroadcastable "
    "maxBroadcastable minBroadcastable floorDivBroadcastable modBroadcastable powBroadcastable "
    "logicalAnd logicalOr logicalXor"
).split()
_COMPARISONS = "greaterThan greaterEqual lessEqual lessThan equal notEqual".split()

RULES = {
    **{kind: _ONE for kind in _UNARY},
    **{kind: _TWO for kind in _BINARY},
    **{kind: (counts(1, 2),) for kind in _COMPARISONS},  # one input: compared with alpha
    "logicalNot": _ONE,
    "whereBroadcastable": (counts(3, 3),),
    "clip": (counts(1, 1), _min_max("clip")),
    "randomNormalStatic": (_NONE, _output_shape("randomNormalStatic")),
    "randomUniformLike": (counts(1, 1), _min_max("randomUniformLike")),
    "randomUniformStatic": (
        _NONE,
        _output_shape("randomUniformStatic"),
        _min_max("randomUniformStatic"),
    ),
    "randomUniformDynamic": (counts(1, 1), _min_max("randomUniformDynamic")),
    "randomBernoulliLike": (counts(1, 1), _probability("randomBernoulliLike")),
    "randomBernoulliStatic": (
        _NONE,
        _output_shape("randomBernoulliStatic"),
        _probability("randomBernoulliStatic"),
    ),
    "randomBernoulliDynamic": (counts(1, 1), _probability("randomBernoulliDynamic")),
    "oneHot": (counts(1, 2),),
    "cumSum": (counts(1, 2),),
    "NonMaximumSuppression": (counts(2, 5, 4, 4),),
}
