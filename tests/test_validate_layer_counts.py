"""Core ML's per-layer checks, Y2 and Y7: every one of the 158 layer kinds of NeuralNetwork.proto
has Core ML's input and output counts (``validateInputCount`` / ``validateOutputCount`` of its
``validate<Kind>Layer``), and a valid network of each kind passes the validator."""

from __future__ import annotations

import pytest

from tests.builders import every_layer
from tests.issue_checks import expect_issue
from updatable import proto
from updatable.validation import MODEL_PARAMS, core_ml_issue
from updatable.validation.layer_rules.registry import FAMILIES, LAYER_RULES

# kind -> (least inputs, most inputs, least outputs, most outputs); -1: no bound. Read from
# NeuralNetworkLayerValidator.cpp; (0, 0) checks nothing (Core ML tests a positive maximum).
_ONE_ONE = (1, 1, 1, 1)
COUNTS = {kind: _ONE_ONE for kind in every_layer.kinds()}
COUNTS.update(
    {
        "convolution": (1, 2, 1, 1),
        "crop": (1, 2, 1, 1),
        "cropResize": (2, 2, 1, 1),
        "add": (1, -1, 1, 1),
        "multiply": (1, -1, 1, 1),
        "average": (1, -1, 1, 1),
        "max": (1, -1, 1, 1),
        "min": (1, -1, 1, 1),
        "dot": (2, 2, 1, 1),
        "loadConstant": (0, 0, 1, 1),
        "concat": (2, -1, 1, 1),
        "split": (1, 1, 2, -1),
        "simpleRecurrent": (2, 2, 2, 2),
        "gru": (1, 2, 2, 2),
        "uniDirectionalLSTM": (1, 3, 3, 3),
        "biDirectionalLSTM": (1, 5, 5, 5),
        "custom": (1, -1, 1, -1),
        "branch": (1, 1, 0, 0),
        "loop": (0, 1, 0, 0),
        "loopBreak": (0, 0, 0, 0),
        "loopContinue": (0, 0, 0, 0),
        "rangeStatic": (0, 0, 1, 1),
        "rangeDynamic": (1, 3, 1, 1),  # (0, 0) when it has no input
        "tile": (1, 2, 1, 1),
        "stack": (2, -1, 1, 1),
        "scatter": (3, 3, 1, 1),
        "scatterND": (3, 3, 1, 1),
        "scatterAlongAxis": (3, 3, 1, 1),
        "whereBroadcastable": (3, 3, 1, 1),
        "splitND": (1, 1, 2, -1),
        "concatND": (2, -1, 1, 1),
        "sliceDynamic": (2, 7, 1, 1),
        "topK": (1, 2, 2, 2),
        "batchedMatmul": (1, 2, 1, 1),
        "loadConstantND": (0, 0, 1, 1),
        "fillStatic": (0, 0, 1, 1),
        "randomNormalStatic": (0, 0, 1, 1),
        "randomUniformStatic": (0, 0, 1, 1),
        "randomBernoulliStatic": (0, 0, 1, 1),
        "constantPad": (1, 2, 1, 1),
        "NonMaximumSuppression": (2, 5, 4, 4),
        "oneHot": (1, 2, 1, 1),
        "cumSum": (1, 2, 1, 1),
        "equal": (1, 2, 1, 1),
        "notEqual": (1, 2, 1, 1),
        "lessThan": (1, 2, 1, 1),
        "lessEqual": (1, 2, 1, 1),
        "greaterThan": (1, 2, 1, 1),
        "greaterEqual": (1, 2, 1, 1),
    }
)
_TWO_ONE = (2, 2, 1, 1)
for _kind in (
    "gather gatherND gatherAlongAxis reverseSeq reshapeLike reshapeDynamic broadcastToLike "
    "broadcastToDynamic sliceBySize logicalAnd logicalOr logicalXor addBroadcastable "
    "subtractBroadcastable multiplyBroadcastable divideBroadcastable maxBroadcastable "
    "minBroadcastable floorDivBroadcastable modBroadcastable powBroadcastable"
).split():
    COUNTS[_kind] = _TWO_ONE

_NUMBERS = {
    f.name: f.number
    for f in proto.NeuralNetwork_pb2.NeuralNetworkLayer.DESCRIPTOR.oneofs_by_name["layer"].fields
}


def test_every_kind_has_rules_in_exactly_one_family():
    assert set(LAYER_RULES) == set(every_layer.kinds()) == set(COUNTS)
    assert len(every_layer.kinds()) == 158
    assert sum(len(family) for family in FAMILIES.values()) == 158


@pytest.mark.parametrize("kind", every_layer.kinds())
def test_a_valid_network_of_every_kind_passes(kind):
    spec = every_layer.network(kind)
    assert core_ml_issue(spec) is None


def _wrong_count(bounds: tuple[int, int]) -> tuple[int, str] | None:
    """A count outside ``bounds`` and the words of Core ML's message for it."""
    lo, hi = bounds
    if hi > 0 and hi == lo:
        return (hi + 1 if hi < 3 else hi - 1), f"exactly {lo}"
    if lo > 0:
        return lo - 1, f"at least {lo}"
    if hi > 0:
        return hi + 1, f"at most {hi}"
    return None


def _where(kind: str) -> str:
    if kind in ("loopBreak", "loopContinue"):
        return "layers['outer'].loop.bodyNetwork.layers['L']"
    return "layers['L']"


@pytest.mark.parametrize("side", ["inputs", "outputs"])
@pytest.mark.parametrize("kind", every_layer.kinds())
def test_core_ml_counts_the_inputs_and_outputs(kind, side):
    lo_in, hi_in, lo_out, hi_out = COUNTS[kind]
    wrong = _wrong_count((lo_in, hi_in) if side == "inputs" else (lo_out, hi_out))
    if kind == "rangeDynamic" and side == "inputs":
        wrong = (4, "at most 3")
    if wrong is None:
        pytest.skip(f"Core ML does not count the {side} of a {kind} layer")
    n, words = wrong
    spec = every_layer.network(kind)
    layer = every_layer.nested(spec)
    names = [f"{'x' if side == 'inputs' else 'y'}{i}" for i in range(n)]
    every_layer.declare_ranks(layer)  # no declared ranks: their count would fail first (Y1)
    if side == "inputs":
        every_layer.rewire(spec, layer, inputs=names)
    else:
        every_layer.rewire(spec, layer, outputs=names)
    message = f"Layer 'L' of type {_NUMBERS[kind]} has {n} {side} but expects {words}."
    expect_issue(spec, "Y2", message, MODEL_PARAMS, _where(kind))


def test_rangedynamic_without_inputs_is_not_counted():
    spec = every_layer.network("rangeDynamic")
    every_layer.rewire(spec, every_layer.nested(spec), inputs=[])
    assert core_ml_issue(spec) is None


def test_load_constant_inputs_are_not_counted():
    """(0, 0) checks nothing: a loadConstantND that reads a blob passes the count check."""
    spec = every_layer.network("loadConstantND")
    every_layer.rewire(spec, every_layer.nested(spec), inputs=["x0"])
    assert core_ml_issue(spec) is None


def test_a_layer_without_a_kind_is_unsupported():
    spec = every_layer.network("copy")
    every_layer.nested(spec).ClearField("copy")
    message = "Unsupported layer type (CoreML.Specification.NeuralNetworkLayer) for layer 'L'."
    expect_issue(spec, "Y7", message, MODEL_PARAMS, "layers['L']")


def test_the_layer_checks_come_before_the_topology_checks():
    """Core ML validates the layer itself (Y2) before it looks for its inputs (N8)."""
    spec = every_layer.network("softmaxND")
    layer = every_layer.nested(spec)
    layer.input.extend(["nowhere", "nowhere_either"])
    message = f"Layer 'L' of type {_NUMBERS['softmaxND']} has 3 inputs but expects exactly 1."
    expect_issue(spec, "Y2", message, MODEL_PARAMS)
    del layer.input[1:]
    layer.input[0] = "nowhere"
    message = "Layer 'L' consumes an input named 'nowhere' which is not present in this network."
    expect_issue(spec, "N8", message, MODEL_PARAMS)
