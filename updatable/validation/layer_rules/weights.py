"""Spec side, validation layer: how Core ML reads a ``WeightParams``: its value type, its
length, and the size and quantization checks every weighted layer kind shares.

Source: coremltools ``mlmodel/src/Validation/ValidatorUtils-inl.hpp`` (``valueType``,
``checkSingleWeightType``, ``getWeightParamSizeInBytes``, ``validateInt8Requirements``),
``NeuralNetwork/NeuralNetworkValidatorUtils.hpp`` (``validateGeneralWeightParams``,
``isWeightParamTypeCompatible``, ``validateLSTMWeightParams``) and
``QuantizationValidationUtils.cpp``. Messages are verbatim, including the missing space in
``"<Kind>Layer '<name>'"`` and ``"<n>units."``.
"""

from __future__ import annotations

import enum
from typing import Any

from updatable import proto
from updatable.validation.layer_rules.scope import int32, uint64


class WeightType(enum.Enum):
    """``WeightParamType``: which one of the value fields a ``WeightParams`` fills."""

    FLOAT32 = "FLOAT32"
    FLOAT16 = "FLOAT16"
    QUINT = "QUINT"  # rawValue with quantization: <= 8-bit unsigned
    QINT = "QINT"  # int8RawValue with quantization
    UNSPECIFIED = "UNSPECIFIED"  # more than one field filled
    EMPTY = "EMPTY"  # nothing filled (or raw bytes without quantization parameters)


def filled_fields(weights: proto.WeightParams) -> int:
    """How many of floatValue, float16Value, rawValue and int8RawValue are non-empty."""
    return (
        (len(weights.floatValue) > 0)
        + (len(weights.float16Value) > 0)
        + (len(weights.rawValue) > 0)
        + (len(weights.int8RawValue) > 0)
    )


def value_type(weights: proto.WeightParams) -> WeightType:
    """``valueType``: the value type Core ML reads ``weights`` as."""
    n = filled_fields(weights)
    if n > 1:
        return WeightType.UNSPECIFIED
    if n == 0:
        return WeightType.EMPTY
    if len(weights.floatValue):
        return WeightType.FLOAT32
    if len(weights.float16Value):
        return WeightType.FLOAT16
    if len(weights.rawValue) and weights.HasField("quantization"):
        return WeightType.QUINT
    if len(weights.int8RawValue) and weights.HasField("quantization"):
        return WeightType.QINT
    return WeightType.EMPTY


def float_count(weights: proto.WeightParams, kind: WeightType) -> int:
    """The number of floats of FP32 / FP16 ``weights`` (FP16 bytes / 2, rounded down)."""
    if kind is WeightType.FLOAT32:
        return len(weights.floatValue)
    return len(weights.float16Value) // 2


def mixed_precision(a: WeightType, b: WeightType) -> bool:
    """One is FP32 and the other FP16: what most weighted layers refuse."""
    return {a, b} == {WeightType.FLOAT32, WeightType.FLOAT16}


def types_compatible(kinds: Any) -> bool:
    """``isWeightParamTypeCompatible``: not both FP32 and FP16 (quantized ones always fit)."""
    return not (WeightType.FLOAT32 in kinds and WeightType.FLOAT16 in kinds)


def _size_in_bytes(weights: proto.WeightParams, kind: WeightType) -> int:
    """``getWeightParamSizeInBytes`` (an ``int`` in Core ML)."""
    sizes = {
        WeightType.FLOAT32: len(weights.floatValue) * 4,
        WeightType.FLOAT16: len(weights.float16Value),
        WeightType.QUINT: len(weights.rawValue),
        WeightType.QINT: len(weights.int8RawValue),
    }
    return int32(sizes.get(kind, 0))


def _enough_bytes(weights: proto.WeightParams, kind: WeightType, units: int) -> bool:
    """``hasSufficientBytesInQuantizedWeightParam``: ceil(bits * units / 8) bytes at least."""
    needed = uint64(uint64(weights.quantization.numberOfBits * units) + 7) // 8
    return uint64(_size_in_bytes(weights, kind)) >= needed


def valid_quantization(weights: proto.WeightParams, expect_size: int) -> bool:
    """``hasValidQuantizationParams``: 1-8 bits; a linear scale of 1 or ``expect_size``
    values with an empty or equally long bias, or a lookup table of 2**bits values."""
    if not weights.HasField("quantization"):
        return False
    quant = weights.quantization
    bits = quant.numberOfBits
    if not 1 <= bits <= 8:
        return False
    kind = quant.WhichOneof("QuantizationType")
    if kind == "linearQuantization":
        scales = len(quant.linearQuantization.scale)
        if scales not in (1, int32(expect_size)):
            return False
        return len(quant.linearQuantization.bias) in (0, scales)
    if kind == "lookupTableQuantization":
        return bool(len(quant.lookupTableQuantization.floatValue) == 2 << (bits - 1))
    return False


def general_problem(
    weights: proto.WeightParams, expected: int, out_channels: int, names: tuple[str, str, str]
) -> str | None:
    """``validateGeneralWeightParams``: ``weights`` hold ``expected`` values.

    Args:
        weights: the ``WeightParams``.
        expected: the number of values the layer needs (a C++ ``uint64_t``).
        out_channels: the channel count a linear quantization scale may have.
        names: (layer class name as Core ML spells it, layer name, weight name).

    Returns:
        Core ML's message, or ``None`` when the weights fit.
    """
    layer_class, layer_name, weight_name = names
    head = f"{layer_class}Layer '{layer_name}' has"
    expected = uint64(expected)
    kind = value_type(weights)
    if kind in (WeightType.FLOAT32, WeightType.FLOAT16):
        size = float_count(weights, kind)
        if size != expected:
            return f"{head} incorrect {weight_name} size {size} (expected {expected})."
        return None
    if kind is WeightType.QUINT:
        if not _enough_bytes(weights, kind, expected):
            return f"{head} insufficient bytes for quantized {weight_name} with {expected}units."
        if not valid_quantization(weights, out_channels):
            return f"{head} invalid quantization parameters for quantized {weight_name}."
        return None
    if kind is WeightType.UNSPECIFIED:
        return f"{head} unspecified {weight_name}."
    return f"{head} empty {weight_name}."


# The continuation lines of these C++ string literals keep their 26 leading spaces.
_INT8_TAIL = (
    (
        " :  "
        + " " * 26
        + "when flag 'int8DynamicQuantize' is set to true, weights must be stored "
        "in the int8 format."
    ),
    " : "
    + " " * 26
    + "Number of bits must equal 8 when flag 'int8DynamicQuantize' is set to true.",
    (
        " : "
        + " " * 26
        + "Linear quantization must be used when flag 'int8DynamicQuantize' is set "
        "to true."
    ),
    (
        " : "
        + " " * 26
        + "Linear quantization scale must be size 1 when flag 'int8DynamicQuantize' "
        "is set to true."
    ),
    (
        " : "
        + " " * 26
        + "Linear quantization bias must be empty when flag 'int8DynamicQuantize' is "
        "set to true."
    ),
)


def int8_problem(weights: proto.WeightParams, layer_type: str, layer_name: str) -> str | None:
    """``validateInt8Requirements``: int8 weights, 8 bits, one linear scale and no bias."""
    quant = weights.quantization
    failures = (
        value_type(weights) is not WeightType.QINT,
        quant.numberOfBits != 8,
        not quant.HasField("linearQuantization"),
        len(quant.linearQuantization.scale) != 1,
        len(quant.linearQuantization.bias) != 0,
    )
    for failed, tail in zip(failures, _INT8_TAIL, strict=True):
        if failed:
            return f"Layer '{layer_name}' of type '{layer_type}{tail}"
    return None
