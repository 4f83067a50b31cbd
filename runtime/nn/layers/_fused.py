"""Runtime, neural-network layer: activations as attributes, and the bias + activation epilogue
shared by the activation layer and the layers an activation can be fused into (convolution,
innerProduct).

An activation is described by an :class:`Activation` (hashable, so attrs stay frozen
dataclasses); parameters are tuples of length 1, or C for per-channel vectors (PReLU,
parametric softplus).
The graph fuses an activation layer into its producer with :func:`with_activation`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from runtime.kernels import elementwise as ew
from updatable.errors import ShapeError, UnsupportedLayerError

from ._common import weight_array, where

# ActivationParams oneof name -> kernel code (NeuralNetwork.proto, ``ActivationParams``)
CODES: dict[str, int] = {
    "linear": ew.LINEAR,
    "ReLU": ew.RELU,
    "leakyReLU": ew.LEAKY_RELU,
    "thresholdedReLU": ew.THRESHOLDED_RELU,
    "PReLU": ew.PRELU,
    "tanh": ew.TANH,
    "scaledTanh": ew.SCALED_TANH,
    "sigmoid": ew.SIGMOID,
    "sigmoidHard": ew.SIGMOID_HARD,
    "ELU": ew.ELU,
    "softsign": ew.SOFTSIGN,
    "softplus": ew.SOFTPLUS,
    "parametricSoftplus": ew.PARAMETRIC_SOFTPLUS,
}
# Core ML backpropagates through these activations only (docs/mlmodel-format.md §2.4).
BACKPROP_ACTIVATIONS = ("ReLU", "sigmoid", "tanh")


@dataclass(frozen=True)
class Activation:
    name: str  # the ActivationParams oneof name, e.g. "ReLU"
    code: int
    alpha: tuple[float, ...]  # length 1 (one value for every channel) or C
    beta: tuple[float, ...]


def parse_activation(layer, params, channels: int) -> Activation:
    """The :class:`Activation` of an ``ActivationParams`` message for ``channels`` channels."""
    name = params.WhichOneof("NonlinearityType")
    if name not in CODES:
        raise UnsupportedLayerError(
            f"{where(layer)}: activation {name or '(none set)'} is not supported; "
            f"supported: {sorted(CODES)}"
        )
    case = getattr(params, name)
    alpha = beta = np.zeros(1, np.float32)
    if name in ("PReLU", "parametricSoftplus"):
        alpha = weight_array(layer, f"{name}.alpha", case.alpha)
        beta = weight_array(layer, f"{name}.beta", case.beta) if name != "PReLU" else beta
        for field, values in (("alpha", alpha), ("beta", beta)):
            if values.size not in (1, channels):
                raise ShapeError(
                    f"{where(layer)}: {name}.{field} has {values.size} values; expected 1 or "
                    f"C = {channels}"
                )
    else:
        alpha = np.array([getattr(case, "alpha", 0.0)], np.float32)
        beta = np.array([getattr(case, "beta", 0.0)], np.float32)
    # scalars stay length 1 (cheap to hash on every call); kernels broadcast them to C
    return Activation(name, CODES[name], tuple(map(float, alpha)), tuple(map(float, beta)))


def with_activation(attrs, activation: Activation):
    """``attrs`` of a convolution / innerProduct with ``activation`` applied in its epilogue.

    The fused layer computes ``f(W x + b)`` in one pass over the GEMM output; its backward
    multiplies by ``f'`` first (ReLU, sigmoid and tanh only, as in Core ML).
    """
    if attrs.activation is not None:
        raise ValueError(
            f"layer already has the fused activation {attrs.activation}; cannot fuse "
            f"{activation.name} as well"
        )
    if len(activation.alpha) not in (1, attrs.blob_channels):
        raise ShapeError(
            f"activation {activation.name} has {len(activation.alpha)} channel parameters; "
            f"the layer's output has {attrs.blob_channels} channels"
        )
    return dataclasses.replace(attrs, activation=activation.name, fused=activation)


@lru_cache(maxsize=256)
def _vectors(activation: Activation | None, channels: int, dtype: np.dtype):
    """Read-only (alpha, beta, zero bias) arrays for the kernels, built once per layer."""
    alpha = np.zeros(channels, dtype) if activation is None else np.asarray(activation.alpha)
    beta = np.zeros(channels, dtype) if activation is None else np.asarray(activation.beta)
    arrays = [np.ascontiguousarray(np.broadcast_to(a, channels), dtype) for a in (alpha, beta)]
    arrays.append(np.zeros(channels, dtype))
    for array in arrays:
        array.flags.writeable = False
    return tuple(arrays)


def activation_vectors(activation: Activation | None, channels: int, dtype):
    """``(alpha, beta, code)`` of an activation for the elementwise kernels."""
    alpha, beta, _ = _vectors(activation, channels, np.dtype(dtype))
    return alpha, beta, ew.IDENTITY if activation is None else activation.code


def rows(x: np.ndarray) -> np.ndarray:
    """``x`` as a ``(-1, C)`` view (never a copy: writes through it must reach ``x``)."""
    return view_as(x, (-1, x.shape[-1]))


def view_as(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``x`` reshaped to ``shape`` as a view; ``ValueError`` where that would need a copy
    (``reshape`` would silently copy, and writes through the copy would be lost)."""
    view = x.reshape(shape)
    if view.size and not np.may_share_memory(view, x):
        raise ValueError(
            f"an array of shape {x.shape} and strides {x.strides} cannot be "
            f"viewed as {shape} without a copy"
        )
    return view


def epilogue(
    z: np.ndarray, bias: np.ndarray | None, activation: Activation | None, out: np.ndarray
) -> None:
    """``out = f(z + bias)`` over 2-D ``(rows, C)`` arrays; ``out`` may be ``z``."""
    channels = z.shape[1]
    alpha, beta, zeros = _vectors(activation, channels, z.dtype)
    code = ew.IDENTITY if activation is None else activation.code
    ew.bias_activation(z, zeros if bias is None else bias, code, alpha, beta, out)


def channel_buffer(y: np.ndarray) -> tuple[np.ndarray, int] | None:
    """``(C-contiguous NHWC buffer, first channel)`` when ``y`` is such a buffer itself or a
    channel slice of one (a concat slot); ``None`` for any other view."""
    if y.flags.c_contiguous:
        return y, 0
    base = y.base
    if not (
        isinstance(base, np.ndarray)
        and base.flags.c_contiguous
        and base.dtype == y.dtype
        and base.shape[:-1] == y.shape[:-1]
        and base.strides == y.strides
    ):
        return None
    offset = y.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    first, misaligned = divmod(offset, y.itemsize)
    if misaligned or first < 0 or first + y.shape[-1] > base.shape[-1]:
        return None
    return base, first


def epilogue_in_place(y: np.ndarray, bias: np.ndarray | None, activation: Activation | None):
    """``y = f(y + bias)`` in place on an NHWC blob or a channel slice of one (nothing to do
    without bias and activation)."""
    if bias is None and activation is None:
        return
    channels = y.shape[-1]
    alpha, beta, zeros = _vectors(activation, channels, y.dtype)
    code = ew.IDENTITY if activation is None else activation.code
    bias = zeros if bias is None else bias
    target = channel_buffer(y)
    if target is None:  # some other strided view: work on a contiguous copy
        copy = np.ascontiguousarray(y)
        ew.bias_activation_block(rows(copy), 0, bias, code, alpha, beta)
        y[...] = copy
    else:
        ew.bias_activation_block(rows(target[0]), target[1], bias, code, alpha, beta)


def activation_grad(activation: Activation | None, y: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """``dy * f'(x)`` from the activation output ``y`` (same shape as ``y``)."""
    if activation is None:
        return dy
    if activation.name not in BACKPROP_ACTIVATIONS:
        raise UnsupportedLayerError(
            f"activation {activation.name} has no backward pass: Core ML backpropagates "
            f"through {', '.join(BACKPROP_ACTIVATIONS)} activations only"
        )
    dz = np.empty(y.shape, np.result_type(y, dy))
    ew.activation_grad(rows(y), rows(np.ascontiguousarray(dy)), activation.code, rows(dz))
    return dz
