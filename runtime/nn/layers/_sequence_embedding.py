"""Runtime, neural-network layer: the table lookup shared by ``embedding`` and ``embeddingND``.

Both layers hold a matrix ``[outputSize, inputSize]`` (row-major) and an optional bias
``[outputSize]``, and turn every input value ``k`` into column ``k`` of the matrix plus the
bias. Core ML blobs are float, so the ids arrive as floats (a token input declared INT32 is
FLOAT32 in converted models). Readings, pinned by tests:

* a value is read as C converts a float to an integer: truncated towards zero (``3.0`` and
  ``3.7`` are both row 3); converters feed exact integers, where every reading agrees;
* an id outside ``[0, inputSize - 1]`` (or NaN) is refused with the layer's name, the value
  and the valid range: the proto requires the values in that range and Core ML documents no
  result for others.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import FeatureError, ShapeError

from ._common import weight_array, where
from .base import CoreMLShape


@dataclass(frozen=True)
class EmbeddingAttrs:
    name: str  # "layer 'name' (kind)", for errors at run time
    input_size: int
    out_shape: CoreMLShape


def table(layer, weights, bias, sizes: tuple[int, int], has_bias: bool) -> dict:
    """``{"W": (inputSize, outputSize), "b": (outputSize,)}`` from the layer's weights."""
    input_size, output_size = sizes
    if min(sizes) < 1:
        raise ShapeError(
            f"{where(layer)}: the table must have a positive input and output size; got "
            f"{input_size} x {output_size}"
        )
    values = weight_array(layer, "weights", weights, input_size * output_size)
    params = {"W": np.ascontiguousarray(values.reshape(output_size, input_size).T)}
    if has_bias:
        params["b"] = weight_array(layer, "bias", bias, output_size)
    return params


def lookup(attrs: EmbeddingAttrs, params: dict, ids: np.ndarray) -> np.ndarray:
    """``(N, *in_shape)`` ids -> ``(N, *out_shape)`` rows of the table (plus the bias)."""
    flat = ids.reshape(-1)
    bad = ~((flat > -1) & (flat < attrs.input_size))  # NaN fails both comparisons
    if bad.any():
        raise FeatureError(
            f"{attrs.name}: input value {float(flat[bad][0])!r} is not an index of the table; "
            f"expected integers in [0, {attrs.input_size - 1}] (the proto's input range)"
        )
    dtype = np.result_type(ids.dtype, np.float32)  # float64 in gradient-check style tests
    rows = params["W"].astype(dtype, copy=False)[np.trunc(flat).astype(np.intp)]
    if "b" in params:
        rows += params["b"].astype(dtype, copy=False)
    return rows.reshape(ids.shape[0], *attrs.out_shape)
