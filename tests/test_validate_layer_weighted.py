"""Core ML's per-layer checks of the weighted and recurrent kinds (innerProduct, batchedMatmul,
embeddings, batchnorm, scale, bias, constants, layerNormalization, simpleRecurrent, gru, the
LSTMs): each case turns a valid network into one Core ML rejects, with its exact message."""

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
    params_of,
    ranks,
    then,
    weights,
    wire,
)
from updatable.validation import core_ml_issue

_UNMATCHED = (
    "has unmatched precisions of weights/bias They should either be half or full precision."
)
_INT8 = "when flag 'int8DynamicQuantize' is set to true"
_PAD = " " * 26  # the indentation Core ML's C++ string literals carry on their second line


def _int8(layer_type: str, tail: str, sep: str = " : ") -> str:
    return f"Layer 'L' of type '{layer_type}{sep}{_PAD}{tail}"


def _rank(kind: str, blob: str, rank: int, words: str) -> str:
    return f"Layer 'L' of type '{kind}' has {blob} rank {rank} but expects rank {words}."


DENSE = [
    (
        "innerProduct",
        [input_shape("x0", [1, 1, 1, 2, 4, 4])],
        "Y3",
        _rank("InnerProduct", "input", 6, "at most 5"),
    ),
    (
        "innerProduct",
        [output_shape("y0", [1, 2])],
        "Y3",
        "Layer 'L' of type 'InnerProduct' expects equal ranks for its input and output, but they "
        "are not equal.",
    ),
    (
        "innerProduct",
        [p(int8DynamicQuantize=True)],
        "Y4",
        _int8("InnerProduct", f"{_INT8}, weights must be stored in the int8 format.", " :  "),
    ),
    (
        "innerProduct",
        [p(int8DynamicQuantize=True), weights("weights", int8=8, quant=(4, [1.0], []))],
        "Y4",
        _int8("InnerProduct", f"Number of bits must equal 8 {_INT8}."),
    ),
    (
        "innerProduct",
        [p(int8DynamicQuantize=True), weights("weights", int8=8, quant=(8, "lut", 256))],
        "Y4",
        _int8("InnerProduct", f"Linear quantization must be used {_INT8}."),
    ),
    (
        "innerProduct",
        [p(int8DynamicQuantize=True), weights("weights", int8=8, quant=(8, [1.0, 2.0], []))],
        "Y4",
        _int8("InnerProduct", f"Linear quantization scale must be size 1 {_INT8}."),
    ),
    (
        "innerProduct",
        [p(int8DynamicQuantize=True), weights("weights", int8=8, quant=(8, [1.0], [0.0]))],
        "Y4",
        _int8("InnerProduct", f"Linear quantization bias must be empty {_INT8}."),
    ),
    (
        "innerProduct",
        [weights("weights", floats=8, fp16=8)],
        "Y4",
        "Inner product layer 'L' has invalid weights/bias fields.",
    ),
    (
        "innerProduct",
        [p(hasBias=True), weights("bias", fp16=2)],
        "Y4",
        f"Inner product layer 'L{_UNMATCHED}",
    ),
    (
        "innerProduct",
        [weights("weights", floats=7)],
        "Y4",
        "Layer 'L has incorrect weight matrix size 7 to encode a 4 × 2 Inner product.",
    ),
    (
        "innerProduct",
        [weights("weights", raw=1, quant=(8, [1.0], []))],
        "Y4",
        "Inner productLayer 'L' has insufficient bytes for quantized weight with 8units.",
    ),
    (
        "innerProduct",
        [p(hasBias=True), weights("bias", floats=1)],
        "Y4",
        "Layer 'L' has incorrect bias vector size 1 (expected 2).",
    ),
    (
        "innerProduct",
        [p(hasBias=True), weights("bias", raw=2, quant=(8, None, None))],
        "Y4",
        "Inner productLayer 'L' has invalid quantization parameters for quantized bias.",
    ),
    (
        "batchedMatmul",
        [p(hasBias=True)],
        "Y5",
        "BatchedMatMul layer 'L': has two inputs and 'hasBias' flag is set to True.However, bias "
        "is only supported when the layer has 1 input.",
    ),
    (
        "batchedMatmul",
        [p(int8DynamicQuantize=True)],
        "Y5",
        "BatchedMatMul layer 'L': cannot use dynamic quantization with 2 inputs.",
    ),
    (
        "batchedMatmul",
        [wire(inputs=["x0"]), p(int8DynamicQuantize=True)],
        "Y4",
        _int8("BatchedMatMul", f"{_INT8}, weights must be stored in the int8 format.", " :  "),
    ),
    (
        "batchedMatmul",
        [
            wire(inputs=["x0"]),
            p(weightMatrixFirstDimension=2, weightMatrixSecondDimension=3),
            weights("weights", floats=5),
        ],
        "Y4",
        "Layer 'L has incorrect weight matrix size 5 to encode a 2 × 3 BatchedMatMul.",
    ),
    (
        "batchedMatmul",
        [wire(inputs=["x0"]), weights("weights", floats=1, fp16=1)],
        "Y4",
        "BatchedMatMul layer 'L' has invalid weights/bias fields.",
    ),
    (
        "batchedMatmul",
        [ranks(inputs=(5, 5), outputs=(4,))],
        "Y3",
        "BatchedMatMul layer 'L': given ranks of the two inputs, rank of the output is incorrect.",
    ),
    (
        "batchedMatmul",
        [wire(inputs=["x0"]), ranks(inputs=(5,), outputs=(4,))],
        "Y3",
        "BatchedMatMul layer 'L': has one input, in this case, output and input ranks must be "
        "equal but they are not.",
    ),
    (
        "embedding",
        [input_shape("x0", [1, 4, 4])],
        "Y3",
        _rank("Embedding", "input", 3, "at least 4"),
    ),
    (
        "embedding",
        [weights("weights", floats=6, fp16=6)],
        "Y4",
        "Embedding 'L' has invalid weights/bias fields. Field value types should match and should "
        "either be half or full precision.",
    ),
    (
        "embedding",
        [p(hasBias=True), weights("bias", fp16=2)],
        "Y4",
        f"Embedding layer 'L{_UNMATCHED}",
    ),
    (
        "embedding",
        [weights("weights", floats=5)],
        "Y4",
        "EmbeddingLayer 'L' has incorrect weight size 5 (expected 6).",
    ),
    ("embedding", [p(hasBias=True)], "Y4", "EmbeddingLayer 'L' has empty bias."),
    (
        "embedding",
        [p(hasBias=True), weights("bias", floats=3)],
        "Y4",
        "EmbeddingLayer 'L' has incorrect bias size 3 (expected 2).",
    ),
    (
        "embeddingND",
        [weights("weights", floats=5)],
        "Y4",
        "EmbeddingNDLayer 'L' has incorrect weight size 5 (expected 6).",
    ),
    (
        "embeddingND",
        [input_shape("x0", [16])],
        "Y3",
        _rank("EmbeddingND", "input", 1, "at least 2"),
    ),
    (
        "embeddingND",
        [input_shape("x0", [1] * 6)],
        "Y3",
        _rank("EmbeddingND", "input", 6, "at most 5"),
    ),
]

_MIXED_BN = (
    "Batchnorm layer 'L' parameters have values for both full and half precision. Parameters "
    "should either be specified in half or full precision, mixed parameters are not supported."
)
NORMALIZATION_AND_CONSTANTS = [
    ("batchnorm", [weights("gamma", fp16=2)], "Y4", _MIXED_BN),
    ("batchnorm", [weights("variance", floats=2, fp16=2)], "Y4", _MIXED_BN),
    (
        "batchnorm",
        [weights("gamma", floats=1)],
        "Y4",
        "BatchNormLayer 'L' has incorrect gamma size 1 (expected 2).",
    ),
    ("batchnorm", [weights("beta")], "Y4", "BatchNormLayer 'L' has empty beta."),
    ("batchnorm", [weights("mean")], "Y4", "Batchnorm layer 'L' is missing mean and variance."),
    ("batchnorm", [weights("variance")], "Y4", "BatchNormLayer 'L' has empty variance."),
    (
        "batchnorm",
        [weights("variance", floats=3)],
        "Y4",
        "BatchNormLayer 'L' has incorrect variance size 3 (expected 2).",
    ),
    ("batchnorm", [input_shape("x0", [4, 4])], "Y3", _rank("Batchnorm", "input", 2, "at least 3")),
    (
        "scale",
        [weights("scale", floats=1, fp16=1)],
        "Y4",
        "Scale layer 'L' has invalid scale/bias fields.",
    ),
    (
        "scale",
        [p(hasBias=True, shapeBias=[1]), weights("bias", fp16=1)],
        "Y4",
        "Scale layer 'L' has invalid scale/bias fields. Field value types should match and should "
        "either be half or full precision.",
    ),
    (
        "scale",
        [p(shapeScale=[1, 1])],
        "Y5",
        "The shape vector for the scale layer 'L' is 2 dimensional but should be 1D or 3D.",
    ),
    ("scale", [p(shapeScale=[2])], "Y4", "ScaleLayer 'L' has incorrect scale size 1 (expected 2)."),
    (
        "scale",
        [p(shapeScale=[2, 4, 4]), weights("scale", raw=32, quant=(8, [1.0] * 3, []))],
        "Y4",
        "ScaleLayer 'L' has invalid quantization parameters for quantized scale.",
    ),
    (
        "scale",
        [p(hasBias=True)],
        "Y5",
        "The bias vector for scale layer 'L' is 0 dimensional but should be either 1D or 3D.",
    ),
    ("scale", [p(hasBias=True, shapeBias=[1])], "Y4", "ScaleLayer 'L' has empty bias."),
    ("scale", [input_shape("x0", [4, 4])], "Y3", _rank("Scale", "input", 2, "at least 3")),
    (
        "bias",
        [weights("bias", floats=1, fp16=1)],
        "Y4",
        "Bias product layer 'L' has both full precision and half precision weights and/or bias "
        "fields populated",
    ),
    ("bias", [p(shape=[1, 1])], "Y5", "Bias layer 'L' cannot be 2 dimensional. Must be 1D or 3D."),
    ("bias", [p(shape=[2, 1, 1])], "Y4", "BiasLayer 'L' has incorrect bias size 1 (expected 2)."),
    ("bias", [input_shape("x0", [4, 4])], "Y3", _rank("Bias", "input", 2, "at least 3")),
    (
        "loadConstant",
        [output_shape("y0", [1, 1, 1])],
        "Y3",
        _rank("LoadConstant", "output", 3, "exactly 5"),
    ),
    (
        "loadConstant",
        [weights("data", floats=1, fp16=1)],
        "Y4",
        "Load constant layer 'L' has both full precision and half precision weight fields "
        "populated",
    ),
    ("loadConstant", [p(shape=[1])], "Y5", "Load constant layer 'L' must be a 3D constant."),
    (
        "loadConstant",
        [p(shape=[2, 1, 1])],
        "Y4",
        "LoadConstantLayer 'L' has incorrect constants size 1 (expected 2).",
    ),
    ("loadConstantND", [p(shape=[])], "Y5", "Target shape is required parameter for 'L' layer."),
    (
        "loadConstantND",
        [weights("data", floats=1, fp16=1)],
        "Y4",
        "LoadConstantND layer 'L' has both full precision and half precision weight fields "
        "populated",
    ),
    (
        "loadConstantND",
        [p(shape=[1] * 6)],
        "Y5",
        "LoadConstantND layer 'L'can only accept shape of length 1 to 5",
    ),
    (
        "loadConstantND",
        [p(shape=[2])],
        "Y4",
        "LoadConstantNDLayer 'L' has incorrect constants size 1 (expected 2).",
    ),
    (
        "layerNormalization",
        [p(normalizedShape=[])],
        "Y5",
        "Normalized shape is required parameter for 'L' layer.",
    ),
    ("layerNormalization", [clear("gamma")], "Y4", "Gamma is required parameter for 'L' layer."),
    ("layerNormalization", [clear("beta")], "Y4", "Beta is required parameter for 'L' layer."),
    (
        "layerNormalization",
        [weights("gamma", floats=4, quant=(8, [1.0], []))],
        "Y4",
        "Gamma and Beta should not be quantized for 'L' layer.",
    ),
    (
        "layerNormalization",
        [weights("gamma", floats=3)],
        "Y4",
        "Shape of gamma should match normalized_shape for 'L' layer.",
    ),
    (
        "layerNormalization",
        [weights("beta", fp16=4)],
        "Y4",
        "Shape of beta should match normalized_shape for 'L' layer.",
    ),
]

_SIMPLE_INVALID = "Simple recurrent layer 'L' has invalid weightMatrix/recusionMatrix/Bias fields."


def _activation(field: str, kind: str | None, index: int = 0):
    """Replace an activation (``field`` of the layer's parameters; item ``index`` of a list)."""

    def mutate(spec, layer) -> None:
        container = getattr(params_of(layer), field)
        target = container if field == "activation" else container[index]
        target.Clear()
        if kind:
            getattr(target, kind).SetInParent()

    return mutate


def _bi_weights(side: int, field: str, **counts):
    def mutate(spec, layer) -> None:
        w = getattr(layer.biDirectionalLSTM.weightParams[side], field)
        w.Clear()
        w.floatValue.extend([0.5] * counts.get("floats", 0))
        w.float16Value = b"\x00\x3c" * counts.get("fp16", 0)

    return mutate


def _recurrent_message(kind: str) -> str:
    name = f"MLActivationParamsNonlinearityType_{kind}" if kind else "INVALID"
    return f"Recurrent non-linearity type {name} is not supported in this version of CoreML."


RECURRENT = [
    (
        "simpleRecurrent",
        [input_shape("x0", [1, 2, 4, 4])],
        "Y3",
        _rank("SimpleRecurrent", "input", 4, "exactly 5"),
    ),
    ("simpleRecurrent", [weights("weightMatrix", floats=4, fp16=4)], "Y4", _SIMPLE_INVALID),
    (
        "simpleRecurrent",
        [weights("recursionMatrix", fp16=4)],
        "Y4",
        f"{_SIMPLE_INVALID} Field value types should match and should either be half or full "
        "precision.",
    ),
    (
        "simpleRecurrent",
        [p(hasBiasVector=True), weights("biasVector", fp16=2)],
        "Y4",
        f"{_SIMPLE_INVALID} Field value types should match and should either be half or full "
        "precision.",
    ),
    (
        "simpleRecurrent",
        [weights("weightMatrix", floats=3)],
        "Y4",
        "SimpleRNNLayer 'L' has incorrect WeightMatrix size 3 (expected 4).",
    ),
    (
        "simpleRecurrent",
        [weights("recursionMatrix", floats=5)],
        "Y4",
        "SimpleRNNLayer 'L' has incorrect RecursionMatrix size 5 (expected 4).",
    ),
    (
        "simpleRecurrent",  # an FP32 matrix and an empty bias: types that do not match
        [p(hasBiasVector=True)],
        "Y4",
        f"{_SIMPLE_INVALID} Field value types should match and should either be half or full "
        "precision.",
    ),
    (
        "simpleRecurrent",  # a quantized matrix: no type check, then the bias size
        [p(hasBiasVector=True), weights("weightMatrix", raw=4, quant=(8, [1.0], []))],
        "Y4",
        "SimpleRNNLayer 'L' has empty BiasVector.",
    ),
    ("simpleRecurrent", [_activation("activation", "ELU")], "Y5", _recurrent_message("ELU")),
    ("simpleRecurrent", [_activation("activation", None)], "Y5", _recurrent_message("")),
    ("gru", [input_shape("x0", [2, 4, 4])], "Y3", _rank("GRU", "input", 3, "exactly 5")),
    (
        "gru",
        [weights("resetGateRecursionMatrix", fp16=4)],
        "Y4",
        "GRU layer 'L' has invalid weight/recursion matrix or bias fields. Field value types "
        "should match and should be either half or full precision",
    ),
    (
        "gru",
        [weights("updateGateWeightMatrix", floats=3)],
        "Y4",
        "GRULayer 'L' has incorrect update gate weight matrix size 3 (expected 4).",
    ),
    (
        "gru",
        [weights("outputGateRecursionMatrix")],
        "Y4",
        "GRULayer 'L' has empty output gate recursion matrix.",
    ),
    ("gru", [p(hasBiasVectors=True)], "Y4", "GRULayer 'L' has empty update gate bias vector."),
    (
        "gru",
        [then(lambda spec, layer: layer.gru.activations.add().softsign.SetInParent())],
        "Y5",
        _recurrent_message("softsign"),
    ),
    (
        "uniDirectionalLSTM",
        [input_shape("x0", [1, 2, 4, 4])],
        "Y3",
        _rank("UniDirectionalLSTM", "input", 4, "exactly 5"),
    ),
    (
        "uniDirectionalLSTM",
        [_activation("activations", "leakyReLU", 1)],
        "Y5",
        _recurrent_message("leakyReLU"),
    ),
    (
        "uniDirectionalLSTM",
        [weights("weightParams.forgetGateRecursionMatrix", fp16=4)],
        "Y4",
        "LSTM weight parameters have inconsistent field value types. Types should match and should "
        "be either half or full precision",
    ),
    (
        "uniDirectionalLSTM",
        [then(lambda spec, layer: layer.uniDirectionalLSTM.activations.pop())],
        "Y5",
        "Unidirectional LSTM layer:L must provide 3 activations",
    ),
    (
        "uniDirectionalLSTM",
        [weights("weightParams.inputGateWeightMatrix", floats=3)],
        "Y4",
        "Unidirectional LSTMLayer 'L' has incorrect input gate weight matrix size 3 (expected 4).",
    ),
    (
        "uniDirectionalLSTM",
        [weights("weightParams.blockInputRecursionMatrix")],
        "Y4",
        "Unidirectional LSTMLayer 'L' has empty block input gate recursion matrix.",
    ),
    (
        "uniDirectionalLSTM",
        [p(params__hasBiasVectors=True)],
        "Y4",
        "Unidirectional LSTMLayer 'L' has empty input gate bias vector.",
    ),
    (
        "uniDirectionalLSTM",
        [p(params__hasPeepholeVectors=True)],
        "Y4",
        "Unidirectional LSTMLayer 'L' has empty input gate peep hole vector.",
    ),
    (
        "biDirectionalLSTM",
        [input_shape("x0", [1, 2, 4, 4])],
        "Y3",
        _rank("BiDirectionalLSTM", "input", 4, "exactly 5"),
    ),
    (
        "biDirectionalLSTM",
        [then(lambda spec, layer: layer.biDirectionalLSTM.activationsForwardLSTM.pop())],
        "Y5",
        "Bidirectional LSTM layer:L forward lstm must provide 3 activations",
    ),
    (
        "biDirectionalLSTM",
        [
            then(
                lambda spec, layer: (
                    layer.biDirectionalLSTM.activationsBackwardLSTM.add().tanh.SetInParent()
                )
            )
        ],
        "Y5",
        "Bidirectional LSTM layer:L backward lstm must provide 3 activations",
    ),
    (
        "biDirectionalLSTM",
        [_activation("activationsBackwardLSTM", "ELU", 2)],
        "Y5",
        _recurrent_message("ELU"),
    ),
    (
        "biDirectionalLSTM",
        [_bi_weights(0, "inputGateWeightMatrix", floats=3)],
        "Y4",
        "Bidirectional LSTMLayer 'L' has incorrect forward input gate weight matrix size 3 "
        "(expected 4).",
    ),
    (
        "biDirectionalLSTM",
        [_bi_weights(1, "outputGateRecursionMatrix")],
        "Y4",
        "Bidirectional LSTMLayer 'L' has empty backward output gate recursion matrix.",
    ),
    (
        "biDirectionalLSTM",
        [p(params__hasBiasVectors=True)],
        "Y4",
        "Bidirectional LSTMLayer 'L' has empty forward input gate bias vector.",
    ),
    (
        "biDirectionalLSTM",
        [p(params__hasPeepholeVectors=True)],
        "Y4",
        "Bidirectional LSTMLayer 'L' has empty forward input gate peephole vector.",
    ),
]


@pytest.mark.parametrize(
    ("kind", "mutations", "code", "message"),
    cases(DENSE + NORMALIZATION_AND_CONSTANTS + RECURRENT),
)
def test_core_ml_rejects(kind, mutations, code, message):
    check_case(kind, mutations, code, message)


def _valid_after(kind: str, *mutations) -> bool:
    spec = every_layer.network(kind)
    layer = every_layer.nested(spec)
    for mutate in mutations:
        mutate(spec, layer)
    return core_ml_issue(spec) is None


def test_quirks_core_ml_accepts():
    """What Core ML's checks let through, ported as they are."""
    # empty (or int8) innerProduct weights skip the size check
    assert _valid_after("innerProduct", weights("weights"))
    assert _valid_after(
        "innerProduct",
        p(int8DynamicQuantize=True),
        weights("weights", int8=8, quant=(8, [1.0], [])),
    )
    # computed statistics need no mean or variance
    assert _valid_after("batchnorm", p(computeMeanVar=True), weights("mean"), weights("variance"))
    # a quantized beta is not tested (Core ML tests gamma twice)
    assert _valid_after("layerNormalization", weights("beta", floats=4, quant=(8, [1.0], [])))
    # a quantized matrix exempts a simple RNN from the precision check
    assert _valid_after(
        "simpleRecurrent",
        weights("weightMatrix", raw=4, quant=(8, [1.0], [])),
        weights("recursionMatrix", fp16=4),
    )
    # the bidirectional LSTM's precision check reads the (empty) unidirectional field
    assert _valid_after("biDirectionalLSTM", _bi_weights(1, "inputGateWeightMatrix", fp16=4))


def test_a_bidirectional_lstm_needs_two_weight_sets():
    """Core ML reads weightParams[1] unchecked (undefined behaviour): Y9, our message."""
    spec = every_layer.network("biDirectionalLSTM")
    every_layer.nested(spec).biDirectionalLSTM.weightParams.pop()
    message = (
        "Core ML's validator reads weightParams[0] and [1] of bidirectional LSTM 'L' but it has "
        "1: its behaviour is undefined (it may crash); give one LSTMWeightParams per direction, "
        "forward first"
    )
    issue = core_ml_issue(spec)
    assert (issue.code, issue.severity, issue.message, issue.result_type) == (
        "Y9",
        "error",
        message,
        "",
    )
