"""Spec side, validation layer: Core ML's per-layer rules of the recurrent kinds:
simpleRecurrent, gru, uniDirectionalLSTM and biDirectionalLSTM.

Source: coremltools ``mlmodel/src/Validation/NeuralNetwork/NeuralNetworkLayerValidator.cpp``
(``validateSimpleRecurrentLayer``, ``validateGRULayer``, ``validateUniDirectionalLSTMLayer``,
``validateBiDirectionalLSTMLayer``) and ``NeuralNetworkValidatorUtils.hpp``
(``validateRecurrentActivationParams``, ``validateLSTMWeightParams``). Weight matrices are
``outputVectorSize x inputVectorSize`` (W) and ``outputVectorSize x outputVectorSize`` (R);
bias and peephole vectors have ``outputVectorSize`` values.

Quirks kept: the bidirectional LSTM's type-consistency check reads the layer's
``uniDirectionalLSTM`` field (empty on a bidirectional layer), so it never fires; and Core ML
reads ``weightParams[0]`` and ``[1]`` without checking they exist: with fewer than two its
behaviour is undefined (it reads past the end of the list), so there is no Core ML message;
Y9 (an error, our message) says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from updatable import proto
from updatable.validation.issues import Issue
from updatable.validation.layer_rules.scope import LayerRule, Scope, counts, nd_ranks, uint64
from updatable.validation.layer_rules.weights import (
    WeightType,
    general_problem,
    types_compatible,
    value_type,
)

_RECURRENT_ACTIVATIONS = frozenset(
    {"linear", "sigmoid", "tanh", "scaledTanh", "sigmoidHard", "ReLU"}
)

# LSTMWeightParams fields, in Core ML's check order, with the words of its messages.
_LSTM_MATRICES = (
    ("inputGateWeightMatrix", "input gate weight matrix", "x"),
    ("forgetGateWeightMatrix", "forget gate weight matrix", "x"),
    ("blockInputWeightMatrix", "block input gate weight matrix", "x"),
    ("outputGateWeightMatrix", "output gate weight matrix", "x"),
    ("inputGateRecursionMatrix", "input gate recursion matrix", "h"),
    ("forgetGateRecursionMatrix", "forget gate recursion matrix", "h"),
    ("blockInputRecursionMatrix", "block input gate recursion matrix", "h"),
    ("outputGateRecursionMatrix", "output gate recursion matrix", "h"),
)
_LSTM_BIASES = (
    ("inputGateBiasVector", "input gate bias vector"),
    ("forgetGateBiasVector", "forget gate bias vector"),
    ("blockInputBiasVector", "block input bias vector"),
    ("outputGateBiasVector", "output gate bias vector"),
)
_LSTM_PEEPHOLES = (
    ("inputGatePeepholeVector", "input gate"),
    ("forgetGatePeepholeVector", "forget gate"),
    ("outputGatePeepholeVector", "output gate"),
)


def recurrent_activation_problem(activation: Any) -> str | None:
    """``validateRecurrentActivationParams``: linear, sigmoid, (scaled) tanh, hard sigmoid or
    ReLU; Core ML names any other by its generated enum name (``INVALID`` when unset)."""
    kind = activation.WhichOneof("NonlinearityType")
    if kind in _RECURRENT_ACTIVATIONS:
        return None
    name = f"MLActivationParamsNonlinearityType_{kind}" if kind else "INVALID"
    return f"Recurrent non-linearity type {name} is not supported in this version of CoreML."


def _activations(get_list: Any) -> LayerRule:
    """Y5: every activation in ``get_list(layer)`` is a recurrent one."""

    def rule(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
        for activation in get_list(layer):
            message = recurrent_activation_problem(activation)
            if message:
                yield scope.error("Y5", layer, message)
                return

    return rule


def _sizes_problem(checks: Any, layer_class: str, layer_name: str) -> str | None:
    """The first ``validateGeneralWeightParams`` failure of ``checks``:
    ``(weights, expected count, output channels, weight name)`` tuples."""
    for weights, expected, out_channels, weight_name in checks:
        names = (layer_class, layer_name, weight_name)
        message = general_problem(weights, expected, out_channels, names)
        if message:
            return message
    return None


# --- simpleRecurrent and gru -----------------------------------------------------------------


def _simple_weights(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    """Y4: W, R and bias are filled once, FP32 or FP16 alike (unless quantized), of the
    declared sizes."""
    params, name = layer.simpleRecurrent, layer.name
    w, r, b = (
        value_type(x) for x in (params.weightMatrix, params.recursionMatrix, params.biasVector)
    )
    x, h = params.inputVectorSize, params.outputVectorSize
    message = None
    invalid = (
        f"Simple recurrent layer '{name}' has invalid weightMatrix/recusionMatrix/Bias fields."
    )
    if WeightType.UNSPECIFIED in (w, r, b if params.hasBiasVector else None):
        message = invalid
    elif WeightType.QUINT not in (w, r) and (
        w != r or (params.hasBiasVector and b is not WeightType.QUINT and w != b)
    ):
        message = (
            f"{invalid} Field value types should match and should either be half or full precision."
        )
    else:
        checks = [
            (params.weightMatrix, uint64(x * h), h, "WeightMatrix"),
            (params.recursionMatrix, uint64(h * h), h, "RecursionMatrix"),
        ]
        if params.hasBiasVector:
            checks.append((params.biasVector, h, 1, "BiasVector"))
        message = _sizes_problem(checks, "SimpleRNN", name)
    if message:
        yield scope.error("Y4", layer, message)


_GRU_GATES = ("update", "reset", "output")


def _gru_weights(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    """Y4: all matrices and (if any) biases of one precision, of the declared sizes."""
    params, name = layer.gru, layer.name
    x, h = params.inputVectorSize, params.outputVectorSize
    kinds = []
    for gate in _GRU_GATES:
        kinds.append(value_type(getattr(params, f"{gate}GateWeightMatrix")))
        kinds.append(value_type(getattr(params, f"{gate}GateRecursionMatrix")))
    if params.hasBiasVectors:
        kinds += [value_type(getattr(params, f"{gate}GateBiasVector")) for gate in _GRU_GATES]
    message: str | None
    if not types_compatible(kinds):
        message = (
            f"GRU layer '{name}' has invalid weight/recursion matrix or bias fields. Field value "
            "types should match and should be either half or full precision"
        )
    else:
        checks = [
            (
                getattr(params, f"{gate}GateWeightMatrix"),
                uint64(x * h),
                h,
                f"{gate} gate weight matrix",
            )
            for gate in _GRU_GATES
        ]
        checks += [
            (
                getattr(params, f"{gate}GateRecursionMatrix"),
                uint64(h * h),
                h,
                f"{gate} gate recursion matrix",
            )
            for gate in _GRU_GATES
        ]
        if params.hasBiasVectors:
            checks += [
                (getattr(params, f"{gate}GateBiasVector"), h, 1, f"{gate} gate bias vector")
                for gate in _GRU_GATES
            ]
        message = _sizes_problem(checks, "GRU", name)
    if message:
        yield scope.error("Y4", layer, message)


# --- LSTMs -----------------------------------------------------------------------------------


def _lstm_checks(
    weights: proto.WeightParams, lstm: proto.Message, sizes: tuple[int, int], side: str = ""
) -> Any:
    """``(weights, expected, channels, name)`` of one direction's LSTM weights, per group."""
    x, h = sizes
    prefix = f"{side} " if side else ""
    peephole = "peephole" if side else "peep hole"  # the bidirectional messages drop the space
    matrices = [
        (getattr(weights, field), uint64(h * (x if w == "x" else h)), h, prefix + words)
        for field, words, w in _LSTM_MATRICES
    ]
    biases = [(getattr(weights, f), h, 1, prefix + words) for f, words in _LSTM_BIASES]
    peepholes = [
        (getattr(weights, field), h, 1, f"{prefix}{gate} {peephole} vector")
        for field, gate in _LSTM_PEEPHOLES
    ]
    return (
        matrices,
        biases if lstm.hasBiasVectors else [],
        peepholes if lstm.hasPeepholeVectors else [],
    )


def _lstm_types_problem(weights: proto.WeightParams, lstm: proto.Message) -> str | None:
    """``validateLSTMWeightParams``: FP32 and FP16 are not mixed."""
    matrices, biases, peepholes = _lstm_checks(weights, lstm, (0, 0))
    kinds = [value_type(check[0]) for check in (*matrices, *biases, *peepholes)]
    if types_compatible(kinds):
        return None
    return (
        "LSTM weight parameters have inconsistent field value types. Types should match and "
        "should be either half or full precision"
    )


def _uni_lstm_weights(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    """Y4 / Y5: one precision; three activations; matrices, biases, peepholes of their sizes."""
    params, name = layer.uniDirectionalLSTM, layer.name
    problem = None
    types = _lstm_types_problem(params.weightParams, params.params)
    if types:
        problem = "Y4", types
    elif len(params.activations) != 3:
        problem = "Y5", f"Unidirectional LSTM layer:{name} must provide 3 activations"
    else:
        sizes = (params.inputVectorSize, params.outputVectorSize)
        groups = _lstm_checks(params.weightParams, params.params, sizes)
        message = _sizes_problem(
            [c for group in groups for c in group], "Unidirectional LSTM", name
        )
        problem = ("Y4", message) if message else None
    if problem:
        yield scope.error(problem[0], layer, problem[1])


def _bi_lstm_weights(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    """Y5 / Y4: three activations per direction; both directions' weights of their sizes."""
    params, name = layer.biDirectionalLSTM, layer.name
    problem = None
    if len(params.activationsForwardLSTM) != 3:
        problem = "Y5", f"Bidirectional LSTM layer:{name} forward lstm must provide 3 activations"
    elif len(params.activationsBackwardLSTM) != 3:
        problem = "Y5", f"Bidirectional LSTM layer:{name} backward lstm must provide 3 activations"
    elif len(params.weightParams) < 2:
        undefined = (
            f"Core ML's validator reads weightParams[0] and [1] of bidirectional LSTM '{name}' "
            f"but it has {len(params.weightParams)}: its behaviour is undefined (it may crash); "
            "give one LSTMWeightParams per direction, forward first"
        )
        yield scope.at.error("Y9", scope.item(layer), undefined, "")
        return
    else:
        sizes = (params.inputVectorSize, params.outputVectorSize)
        sides = params.weightParams
        forward = _lstm_checks(sides[0], params.params, sizes, "forward")
        backward = _lstm_checks(sides[1], params.params, sizes, "backward")
        # Core ML's order: F then B matrices, F then B biases, F then B peepholes
        checks = [c for f, b in zip(forward, backward, strict=True) for c in (*f, *b)]
        message = _sizes_problem(checks, "Bidirectional LSTM", name)
        problem = ("Y4", message) if message else None
    if problem:
        yield scope.error(problem[0], layer, problem[1])


RULES = {
    "simpleRecurrent": (
        counts(2, 2, 2, 2),
        nd_ranks("SimpleRecurrent", 5, 5),
        _simple_weights,
        _activations(lambda layer: [layer.simpleRecurrent.activation]),
    ),
    "gru": (
        counts(1, 2, 2, 2),
        nd_ranks("GRU", 5, 5),
        _gru_weights,
        _activations(lambda layer: layer.gru.activations),
    ),
    "uniDirectionalLSTM": (
        counts(1, 3, 3, 3),
        nd_ranks("UniDirectionalLSTM", 5, 5),
        _activations(lambda layer: layer.uniDirectionalLSTM.activations),
        _uni_lstm_weights,
    ),
    "biDirectionalLSTM": (
        counts(1, 5, 5, 5),
        nd_ranks("BiDirectionalLSTM", 5, 5),
        _activations(lambda layer: layer.biDirectionalLSTM.activationsForwardLSTM),
        _activations(lambda layer: layer.biDirectionalLSTM.activationsBackwardLSTM),
        _bi_lstm_weights,
    ),
}
