"""Spec side, validation layer: Core ML's per-layer rules of the kinds that carry weights or
constants: innerProduct, batchedMatmul, embedding, embeddingND, batchnorm, scale, bias,
loadConstant, loadConstantND and layerNormalization.

Source: coremltools ``mlmodel/src/Validation/NeuralNetwork/NeuralNetworkLayerValidator.cpp``
(``validateInnerProductWeightsBias``, ``validateInnerProductLayer``,
``validateBatchedMatmulLayer``, ``validateEmbeddingWeightsBias``, ``validateEmbeddingLayer``,
``validateEmbeddingNDLayer``, ``validateBatchnormLayer``, ``validateScaleLayer``,
``validateBiasLayer``, ``validateLoadConstantLayer``, ``validateLoadConstantNDLayer``,
``validateLayerNormalizationLayer``). Quirks kept: an innerProduct / batchedMatmul whose
weights are empty (or int8) passes the size checks; batchnorm tests ``mean`` twice for
"missing mean and variance" (never ``variance``); layerNormalization tests ``gamma`` twice for
quantization, and compares ``floatValue`` lengths only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from updatable import proto
from updatable.validation.issues import Issue
from updatable.validation.layer_rules.scope import (
    LayerRule,
    Scope,
    check_rank,
    counts,
    int32,
    nd_ranks,
    target_shape_required,
    uint64,
)
from updatable.validation.layer_rules.weights import (
    WeightType,
    float_count,
    general_problem,
    int8_problem,
    mixed_precision,
    value_type,
)

_FLOATS = (WeightType.FLOAT32, WeightType.FLOAT16)
_UNMATCHED = (
    "has unmatched precisions of weights/bias They should either be half or full precision."
)


def _product(values: Any) -> int:
    """A ``size_t`` product (C++ wraps it modulo 2**64)."""
    total = 1
    for value in values:
        total = uint64(total * value)
    return total


# --- innerProduct and batchedMatmul ----------------------------------------------------------


def _dense_problem(
    layer: proto.NeuralNetworkLayer, params: proto.Message, layer_type: str
) -> str | None:
    """``validateInnerProductWeightsBias`` for ``num_inputs x num_outputs`` weights."""
    name = layer.name
    if layer_type == "Inner product":
        n_in, n_out = params.inputChannels, params.outputChannels
    else:
        n_in, n_out = params.weightMatrixFirstDimension, params.weightMatrixSecondDimension
    weights_type, bias_type = value_type(params.weights), value_type(params.bias)
    if WeightType.UNSPECIFIED in (weights_type, bias_type if params.hasBias else None):
        return f"{layer_type} layer '{name}' has invalid weights/bias fields."
    if params.hasBias and mixed_precision(weights_type, bias_type):
        return f"{layer_type} layer '{name}{_UNMATCHED}"
    expected = uint64(n_in * n_out)
    if weights_type in _FLOATS:
        size = float_count(params.weights, weights_type)
        if size != expected:
            return (
                f"Layer '{name} has incorrect weight matrix size {size} to encode a {n_in} × "
                f"{n_out} {layer_type}."
            )
    elif weights_type is WeightType.QUINT:
        problem = general_problem(params.weights, expected, n_out, (layer_type, name, "weight"))
        if problem:
            return problem
    if params.hasBias and bias_type in _FLOATS:
        size = float_count(params.bias, bias_type)
        if size != n_out:
            return f"Layer '{name}' has incorrect bias vector size {size} (expected {n_out})."
    elif params.hasBias and bias_type is WeightType.QUINT:
        return general_problem(params.bias, n_out, 1, (layer_type, name, "bias"))
    return None


def _inner_product_weights(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    """Y4: int8 requirements (dynamic quantization), then weight and bias sizes."""
    params = layer.innerProduct
    message = None
    if params.int8DynamicQuantize:
        message = int8_problem(params.weights, "InnerProduct", layer.name)
    message = message or _dense_problem(layer, params, "Inner product")
    if message:
        yield scope.error("Y4", layer, message)


def _matmul_ranks(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    """Y3: the declared output rank is max(2, input ranks) (two inputs) or the input rank."""
    n_in, tensors_in, tensors_out = (
        len(layer.input),
        len(layer.inputTensor),
        len(layer.outputTensor),
    )
    message = None
    if n_in == 2 and tensors_in == 2 and tensors_out == 1:
        first, second = (int32(t.rank) for t in layer.inputTensor[:2])
        if int32(layer.outputTensor[0].rank) != max(2, first, second):
            message = (
                f"BatchedMatMul layer '{layer.name}': given ranks of the two inputs, rank of the "
                "output is incorrect."
            )
    if n_in == 1 and tensors_in == 1 and tensors_out == 1:
        if int32(layer.outputTensor[0].rank) != int32(layer.inputTensor[0].rank):
            message = (
                f"BatchedMatMul layer '{layer.name}': has one input, in this case, output and "
                "input ranks must be equal but they are not."
            )
    if message:
        yield scope.error("Y3", layer, message)


def _matmul_params(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    """Y5 / Y4: bias and dynamic quantization need one input; then the weights (one input)."""
    params, name = layer.batchedMatmul, layer.name
    problem = None
    if len(layer.input) > 1 and params.hasBias:
        problem = (
            "Y5",
            (
                f"BatchedMatMul layer '{name}': has two inputs and 'hasBias' flag is set to True."
                "However, bias is only supported when the layer has 1 input."
            ),
        )
    elif len(layer.input) > 1 and params.int8DynamicQuantize:
        problem = (
            "Y5",
            (f"BatchedMatMul layer '{name}': cannot use dynamic quantization with 2 inputs."),
        )
    elif params.int8DynamicQuantize and (
        found := int8_problem(params.weights, "BatchedMatMul", name)
    ):
        problem = "Y4", found
    elif len(layer.input) == 1 and (found := _dense_problem(layer, params, "BatchedMatMul")):
        problem = "Y4", found
    if problem:
        yield scope.error(problem[0], layer, problem[1])


# --- embeddings ------------------------------------------------------------------------------


def _embedding_weights(kind: str) -> LayerRule:
    """Y4: ``validateEmbeddingWeightsBias`` (vocabulary x embedding-size weights, bias)."""

    def rule(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
        params, name = getattr(layer, kind), layer.name
        if kind == "embedding":
            layer_type, n_in, n_out = "Embedding", params.inputDim, params.outputChannels
        else:
            layer_type, n_in, n_out = "EmbeddingND", params.vocabSize, params.embeddingSize
        weights_type, bias_type = value_type(params.weights), value_type(params.bias)
        message: str | None
        if WeightType.UNSPECIFIED in (weights_type, bias_type if params.hasBias else None):
            message = (
                f"{layer_type} '{name}' has invalid weights/bias fields. Field value types should "
                "match and should either be half or full precision."
            )
        elif params.hasBias and mixed_precision(weights_type, bias_type):
            message = f"{layer_type} layer '{name}{_UNMATCHED}"
        else:
            names = (layer_type, name, "weight")
            message = general_problem(params.weights, uint64(n_in * n_out), n_out, names)
            if not message and params.hasBias:
                message = general_problem(params.bias, n_out, 1, (layer_type, name, "bias"))
        if message:
            yield scope.error("Y4", layer, message)

    return rule


# --- normalisation and constants ------------------------------------------------------------


def _batchnorm_params(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    """Y4: one precision; gamma, beta (and mean, variance unless computed) of ``channels``."""
    params, name = layer.batchnorm, layer.name
    fields = (params.gamma, params.beta, params.mean, params.variance)
    kinds = {value_type(w) for w in fields}
    mixed = {WeightType.FLOAT32, WeightType.FLOAT16} <= kinds
    message = None
    if mixed or WeightType.UNSPECIFIED in kinds:
        message = (
            f"Batchnorm layer '{name}' parameters have values for both full and half precision. "
            "Parameters should either be specified in half or full precision, mixed parameters "
            "are not supported."
        )
    for weights, field in ((params.gamma, "gamma"), (params.beta, "beta")):
        message = message or general_problem(
            weights, params.channels, 1, ("BatchNorm", name, field)
        )
    if not message and not params.computeMeanVar:
        if value_type(params.mean) is WeightType.EMPTY:  # Core ML tests `mean` twice
            message = f"Batchnorm layer '{name}' is missing mean and variance."
        for weights, field in ((params.mean, "mean"), (params.variance, "variance")):
            names = ("BatchNorm", name, field)
            message = message or general_problem(weights, params.channels, 1, names)
    if message:
        yield scope.error("Y4", layer, message)


def _shaped_problem(
    weights: proto.WeightParams, shape: Any, names: tuple[str, str, str]
) -> str | None:
    """Weights of a [1], [C], [1, H, W] or [C, H, W] shape (scale, bias, loadConstant)."""
    out_channels = shape[0] if len(shape) == 3 and shape[0] > 1 else 1
    return general_problem(weights, _product(shape), out_channels, names)


def _scale_params(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    params, name = layer.scale, layer.name
    scale_type, bias_type = value_type(params.scale), value_type(params.bias)
    problem = None
    if WeightType.UNSPECIFIED in (scale_type, bias_type if params.hasBias else None):
        problem = "Y4", f"Scale layer '{name}' has invalid scale/bias fields."
    elif params.hasBias and mixed_precision(scale_type, bias_type):
        problem = (
            "Y4",
            (
                f"Scale layer '{name}' has invalid scale/bias fields. Field value types should "
                "match and should either be half or full precision."
            ),
        )
    elif len(params.shapeScale) not in (1, 3):
        problem = (
            "Y5",
            (
                f"The shape vector for the scale layer '{name}' is {len(params.shapeScale)} "
                "dimensional but should be 1D or 3D."
            ),
        )
    elif found := _shaped_problem(params.scale, params.shapeScale, ("Scale", name, "scale")):
        problem = "Y4", found
    elif params.hasBias and len(params.shapeBias) not in (1, 3):
        problem = (
            "Y5",
            (
                f"The bias vector for scale layer '{name}' is {len(params.shapeBias)} dimensional "
                "but should be either 1D or 3D."
            ),
        )
    elif params.hasBias:
        message = _shaped_problem(params.bias, params.shapeBias, ("Scale", name, "bias"))
        problem = ("Y4", message) if message else None
    if problem:
        yield scope.error(problem[0], layer, problem[1])


def _bias_params(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    params, name = layer.bias, layer.name
    problem = None
    if value_type(params.bias) is WeightType.UNSPECIFIED:
        problem = (
            "Y4",
            (
                f"Bias product layer '{name}' has both full precision and half precision weights "
                "and/or bias fields populated"
            ),
        )
    elif len(params.shape) not in (1, 3):
        problem = (
            "Y5",
            (f"Bias layer '{name}' cannot be {len(params.shape)} dimensional. Must be 1D or 3D."),
        )
    else:
        message = _shaped_problem(params.bias, params.shape, ("Bias", name, "bias"))
        problem = ("Y4", message) if message else None
    if problem:
        yield scope.error(problem[0], layer, problem[1])


def _load_constant_params(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    """Y3 (a rank-5 output, N-d networks) / Y4 / Y5: one precision, a 3-D shape, its size."""
    params, name = layer.loadConstant, layer.name
    problem = None
    if scope.nd and layer.output[0] in scope.ranks:
        rank = scope.ranks[layer.output[0]]
        message = check_rank(layer, "LoadConstant", (5, 5), "output", rank)
        problem = ("Y3", message) if message else None
    if problem is None and value_type(params.data) is WeightType.UNSPECIFIED:
        problem = (
            "Y4",
            (
                f"Load constant layer '{name}' has both full precision and half precision weight "
                "fields populated"
            ),
        )
    elif problem is None and len(params.shape) != 3:
        problem = "Y5", f"Load constant layer '{name}' must be a 3D constant."
    elif problem is None:
        message = _shaped_problem(params.data, params.shape, ("LoadConstant", name, "constants"))
        problem = ("Y4", message) if message else None
    if problem:
        yield scope.error(problem[0], layer, problem[1])


def _load_constant_nd_params(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    params, name = layer.loadConstantND, layer.name
    problem = None
    if value_type(params.data) is WeightType.UNSPECIFIED:
        problem = (
            "Y4",
            (
                f"LoadConstantND layer '{name}' has both full precision and half precision weight "
                "fields populated"
            ),
        )
    elif not 1 <= len(params.shape) <= 5:
        problem = "Y5", f"LoadConstantND layer '{name}'can only accept shape of length 1 to 5"
    else:
        names = ("LoadConstantND", name, "constants")
        message = general_problem(params.data, _product(params.shape), 1, names)
        problem = ("Y4", message) if message else None
    if problem:
        yield scope.error(problem[0], layer, problem[1])


def _layer_norm_params(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    """Y5 / Y4: a normalized shape; gamma and beta present, unquantized, of its size."""
    params, name = layer.layerNormalization, layer.name
    total = 1
    for size in params.normalizedShape:  # std::accumulate with std::multiplies<int>
        total = int32(total * int32(size))
    problem = None
    if not len(params.normalizedShape):
        problem = "Y5", f"Normalized shape is required parameter for '{name}' layer."
    elif not params.HasField("gamma"):
        problem = "Y4", f"Gamma is required parameter for '{name}' layer."
    elif not params.HasField("beta"):
        problem = "Y4", f"Beta is required parameter for '{name}' layer."
    elif params.gamma.HasField("quantization"):  # Core ML tests gamma twice, never beta
        problem = "Y4", f"Gamma and Beta should not be quantized for '{name}' layer."
    elif len(params.gamma.floatValue) != total:
        problem = "Y4", f"Shape of gamma should match normalized_shape for '{name}' layer."
    elif len(params.beta.floatValue) != total:
        problem = "Y4", f"Shape of beta should match normalized_shape for '{name}' layer."
    if problem:
        yield scope.error(problem[0], layer, problem[1])


RULES = {
    "innerProduct": (counts(1, 1), nd_ranks("InnerProduct", 1, 5), _inner_product_weights),
    "batchedMatmul": (counts(1, 2), _matmul_ranks, _matmul_params),
    "embedding": (counts(1, 1), nd_ranks("Embedding", 4, -1), _embedding_weights("embedding")),
    "embeddingND": (
        counts(1, 1),
        nd_ranks("EmbeddingND", 2, 5),
        _embedding_weights("embeddingND"),
    ),
    "batchnorm": (counts(1, 1), nd_ranks("Batchnorm", 3, -1), _batchnorm_params),
    "scale": (counts(1, 1), nd_ranks("Scale", 3, -1), _scale_params),
    "bias": (counts(1, 1), nd_ranks("Bias", 3, -1), _bias_params),
    # (0, 0) inputs checks nothing: Core ML's validateInputCount only tests a positive maximum
    "loadConstant": (counts(0, 0), _load_constant_params),
    "loadConstantND": (
        counts(0, 0),
        target_shape_required(lambda layer: len(layer.loadConstantND.shape)),
        _load_constant_nd_params,
    ),
    "layerNormalization": (counts(1, 1), _layer_norm_params),
}
