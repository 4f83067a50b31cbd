"""Runtime, neural-network layer: reading the float weights of convolution and innerProduct layers.

``WeightParams`` (NeuralNetwork.proto) holds ``floatValue`` (float32), ``float16Value`` (IEEE
half bytes) or ``rawValue`` bytes; ``rawValue`` without ``quantization`` is read as
little-endian float32 (its only unquantized use), anything with ``quantization`` is refused:
the runtime computes in float32 like the device's CPU path for updatable models.
"""

from __future__ import annotations

import numpy as np

from updatable.errors import ShapeError, UnsupportedLayerError

from ._common import weight_array, where


def float_weights(layer, field: str, weights, count: int) -> np.ndarray:
    """The ``count`` values of ``weights`` as a flat float32 array."""
    if count < 1:  # a zero channel count: no weights to read, and no shape to give them
        raise ShapeError(
            f"{where(layer)}: {field} would hold {count} values; its channel counts must be "
            "positive"
        )
    if weights.HasField("quantization"):
        quantization = weights.quantization
        kind = quantization.WhichOneof("QuantizationType") or "unspecified"
        raise UnsupportedLayerError(
            f"{where(layer)}: {field} are quantized ({quantization.numberOfBits}-bit, {kind}); "
            "the runtime reads float32 (floatValue, rawValue) or float16 (float16Value) "
            "weights; dequantize the model first"
        )
    raw = weights.rawValue
    if raw and not len(weights.floatValue) and not weights.float16Value:
        if len(raw) != 4 * count:
            raise ShapeError(
                f"{where(layer)}: {field} rawValue has {len(raw)} bytes; expected {4 * count} "
                f"({count} float32 values)"
            )
        return np.frombuffer(raw, dtype="<f4").astype(np.float32)
    return weight_array(layer, field, weights, count)
