"""Runtime, ONNX layer: Core ML ``WeightParams`` <-> float32 numpy arrays, for the ONNX exporter
and importer.

A ``WeightParams`` stores its values in one of ``floatValue`` (repeated float32),
``float16Value`` (little-endian half-precision bytes) or ``rawValue`` (bytes; float32 for
unquantized weights). Quantized weights (``quantization`` set) are refused: Core ML cannot
update them either (validator rule A2), and a float export of them would silently change the
model.
"""

from __future__ import annotations

import numpy as np

from updatable.errors import UnsupportedLayerError


def read(weights, count: int, what: str) -> np.ndarray:
    """The ``count`` float32 values of ``weights``; ``what`` names them in errors."""
    if weights.HasField("quantization"):
        raise UnsupportedLayerError(
            f"{what} are quantized ({weights.quantization.numberOfBits} bits); the ONNX export "
            "needs float32 or float16 weights"
        )
    if len(weights.floatValue):
        values = np.asarray(weights.floatValue, dtype=np.float32)
    elif weights.float16Value:
        values = np.frombuffer(weights.float16Value, dtype="<f2").astype(np.float32)
    elif weights.rawValue:
        values = np.frombuffer(weights.rawValue, dtype="<f4").astype(np.float32)
    else:
        values = np.zeros(0, np.float32)
    if values.size != count:
        raise UnsupportedLayerError(
            f"{what} hold {values.size} values; the layer's parameters call for {count}"
        )
    return values


def write(weights, values: np.ndarray) -> None:
    """Store ``values`` as ``floatValue`` (what Core ML updates), keeping ``isUpdatable``."""
    flat = np.ascontiguousarray(values, dtype=np.float32).ravel()
    weights.ClearField("float16Value")
    weights.ClearField("rawValue")
    del weights.floatValue[:]
    weights.floatValue.extend(flat.tolist())
