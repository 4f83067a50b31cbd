"""Runtime, neural-network layer: decoding layer parameters from the protobuf, shared by the layer
units.

Core ML stores weights row-major in ``WeightParams`` (``NeuralNetwork.proto``): ``floatValue``
(float32) or ``float16Value`` (IEEE half, little-endian bytes). Parameter shapes are written in
Core ML's ``[C, H, W]`` order; the runtime keeps blobs as ``(N, H, W, C)``, so parameters that
broadcast against a blob are stored ``(H, W, C)`` with 1 on the broadcast axes.
"""

from __future__ import annotations

import numpy as np

from updatable.errors import ShapeError, UnsupportedLayerError

from .base import Shape


def where(layer) -> str:
    """``layer 'name' (kind)``, the prefix of every build error."""
    return f"layer '{layer.name}' ({layer.WhichOneof('layer')})"


def or_default(value: float, default: float) -> float:
    """Core ML's "defaults to X if not set or set to 0" rule for float fields."""
    return float(value) if value != 0 else float(default)


def weight_array(layer, field: str, weights, count: int | None = None) -> np.ndarray:
    """The values of ``weights`` (a ``WeightParams``) as a flat float32 array.

    Raises:
        UnsupportedLayerError: the weights are quantized or raw (not float32/float16).
        ShapeError: ``count`` is given and the number of values differs.
    """
    if len(weights.floatValue):
        values = np.asarray(weights.floatValue, dtype=np.float32)
    elif weights.float16Value:
        values = np.frombuffer(weights.float16Value, dtype="<f2").astype(np.float32)
    elif weights.rawValue or weights.HasField("quantization"):
        raise UnsupportedLayerError(
            f"{where(layer)}: {field} are quantized or raw bytes; the runtime reads float32 "
            "(floatValue) and float16 (float16Value) weights"
        )
    else:
        values = np.zeros(0, dtype=np.float32)
    if count is not None and values.size != count:
        raise ShapeError(f"{where(layer)}: {field} has {values.size} values; expected {count}")
    return values


def _parameter_values(layer, field: str, weights, shape, chw) -> tuple[list[int], np.ndarray]:
    """The dims and values of a ``[1]`` / ``[C]`` / ``[1, H, W]`` / ``[C, H, W]`` parameter
    for an input whose last three axes are ``chw`` (``[C, H, W]``)."""
    channels, height, width = chw
    dims = [int(d) for d in shape] or [1]
    allowed = {(1,), (channels,), (1, height, width), (channels, height, width)}
    if tuple(dims) not in allowed:
        raise ShapeError(
            f"{where(layer)}: {field} shape {dims} does not fit an input of shape "
            f"[C, H, W] = {[channels, height, width]}; expected one of "
            f"{sorted(list(s) for s in allowed)}"
        )
    return dims, weight_array(layer, field, weights, int(np.prod(dims)))


def broadcast_parameter(layer, field: str, weights, shape, in_shape: Shape) -> np.ndarray:
    """A scale/bias parameter of Core ML shape ``[1]``, ``[C]``, ``[1, H, W]`` or ``[C, H, W]``
    as an ``(H, W, C)`` array that broadcasts against blobs of per-example shape ``in_shape``.
    """
    height, width, channels = in_shape
    dims, values = _parameter_values(layer, field, weights, shape, (channels, height, width))
    if len(dims) == 1:
        return values.reshape(1, 1, dims[0])
    return np.ascontiguousarray(values.reshape(dims).transpose(1, 2, 0))


def broadcast_parameter_nd(layer, field: str, weights, shape, in_shape) -> np.ndarray:
    """The same parameter as a ``(C | 1, H | 1, W | 1)`` array that broadcasts against an
    ``nd`` blob of Core ML shape ``in_shape`` (rank 3 or more: its last three axes)."""
    if len(in_shape) < 3:
        raise ShapeError(
            f"{where(layer)}: reads a tensor of shape {list(in_shape)}; the layer needs rank 3 "
            "or more, whose last three axes are C, H and W"
        )
    dims, values = _parameter_values(layer, field, weights, shape, tuple(in_shape[-3:]))
    return values.reshape([*dims, 1, 1] if len(dims) == 1 else dims)


def channel_first(x: np.ndarray) -> np.ndarray:
    """``(N, H, W, C)`` -> ``(N, C, H, W)`` view (Core ML's element order within an example)."""
    return x.transpose(0, 3, 1, 2)


def channel_last(x: np.ndarray) -> np.ndarray:
    """``(N, C, H, W)`` -> contiguous ``(N, H, W, C)``."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def refill(x: np.ndarray, out_shape: Shape) -> np.ndarray:
    """Each example's values in Core ML's ``C, H, W`` order, refilled into ``out_shape``
    ``(H, W, C)`` in that same order (a Core ML reshape)."""
    height, width, channels = out_shape
    flat = np.ascontiguousarray(channel_first(x)).reshape(x.shape[0], channels, height, width)
    return channel_last(flat)


def write_or_return(y: np.ndarray, out) -> np.ndarray:
    """Copy ``y`` into ``out[0]`` when a preallocated output is given (see ARCHITECTURE)."""
    if out is None or out[0] is None:
        return y
    out[0][...] = y
    return out[0]
