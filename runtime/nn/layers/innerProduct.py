"""Runtime, neural-network layer: Core ML ``innerProduct`` layer: ``y = f(W x + b)``, a fully
connected layer.

``InnerProductLayerParams`` (NeuralNetwork.proto): weights ``[C_out, C_in]``; which axes are
contracted depends on the input rank: rank 1 ``(C_in)`` -> ``(C_out)``; rank 2 ``(x1, C_in)``
and rank 3 ``(x1, x2, C_in)`` contract the last axis; rank 4 ``(x1, C, H, W)`` -> ``(x1,
C_out, 1, 1)`` and rank 5 ``(x1, x2, C, H, W)`` -> ``(x1, x2, C_out, 1, 1)`` contract
``C*H*W`` in Core ML's element order (the rule of every blob of a rank-5 network).

Layouts: ``nd`` for any rank (``runtime.nn.layers._nd_dense``, ``W`` rows in Core ML order);
``chw`` for rank 3 to 5, where ``W`` is ``(H*W*C, C_out)`` with rows in NHWC order for the
``C*H*W`` rule (permuted once, at build, so ``y = x.reshape(N, -1) @ W`` reads the blob in
place) and ``(C_in, C_out)`` for the last-axis rule. The rank comes from the compiler; a
layer built alone (no rank known) reads its ``inputTensor`` rank, or else ``C*H*W == C_in``
selects the first rule and ``W == C_in`` the second. ``b`` is ``(C_out,)``.
"""

from __future__ import annotations

import numpy as np

from updatable.errors import ShapeError, UnsupportedLayerError

from . import _dense_chw as chw
from . import _nd_dense as dense
from ._common import where
from ._weights import float_weights
from .base import CHW, ND, Built, CoreMLShape, LayerKind, Shape, core_ml_shape


def _checked(layer) -> tuple[int, int]:
    p = layer.innerProduct
    if p.int8DynamicQuantize:
        raise UnsupportedLayerError(
            f"{where(layer)}: int8DynamicQuantize is set; the runtime computes in float32 only"
        )
    return int(p.inputChannels), int(p.outputChannels)


def _weights(layer, attrs, cin: int, cout: int) -> dict[str, np.ndarray]:
    p = layer.innerProduct
    params = import_(attrs, {"weights": float_weights(layer, "weights", p.weights, cin * cout)})
    if p.hasBias:
        params["b"] = float_weights(layer, "bias", p.bias, cout)
    return params


def build(layer, in_shapes: list[Shape]) -> Built:
    height, width, channels = in_shapes[0]
    cin, cout = _checked(layer)
    known = core_ml_shape(in_shapes[0])
    rank = len(known) if known else layer.inputTensor[0].rank if len(layer.inputTensor) else 0
    last_axis = rank in (2, 3) or (rank == 0 and height * width * channels != cin and width == cin)
    if (width if last_axis else height * width * channels) != cin:
        raise ShapeError(
            f"{where(layer)}: inputChannels = {cin} does not match the input [C, H, W] = "
            f"{[channels, height, width]} (expected C*H*W, or W for rank 2-3 inputs)"
        )
    attrs = chw.InnerProductAttrs((int(height), int(width), int(channels)), cin, cout, last_axis)
    out_shape = (height, cout, channels) if last_axis else (1, 1, cout)
    return Built(attrs, _weights(layer, attrs, cin, cout), [out_shape])


def build_nd(layer, in_shapes: list[CoreMLShape]) -> Built:
    shape = tuple(in_shapes[0])
    cin, cout = _checked(layer)
    if not 1 <= len(shape) <= 5:
        raise ShapeError(f"{where(layer)}: reads a tensor of rank {len(shape)}; expected 1 to 5")
    contracted = 3 if len(shape) >= 4 else 1
    if dense.contracted_size(shape, contracted) != cin:
        raise ShapeError(
            f"{where(layer)}: inputChannels = {cin} does not match the input of shape "
            f"{list(shape)} (rank {len(shape)} contracts its last {contracted} axes)"
        )
    attrs = dense.DenseAttrs(shape, dense.out_shape(shape, contracted, cout), cin, cout)
    return Built(attrs, _weights(layer, attrs, cin, cout), [attrs.out_shape])


def export(attrs, params) -> dict[str, np.ndarray]:
    """Runtime parameters -> ``{"weights": [C_out, C_in], "bias": [C_out]}`` in Core ML layout
    (dtype kept)."""
    return _math(attrs).export(attrs, params)


def import_(attrs, arrays) -> dict[str, np.ndarray]:
    """Core ML ``[C_out, C_in]`` weights (flat or shaped) and bias -> runtime ``{"W", "b"}``."""
    return _math(attrs).import_(attrs, arrays)


def forward(attrs, params, xs, keep=False, out=None):
    """``y = f(x W + b)``; caches ``(x, y)`` for backward when ``keep``."""
    return _math(attrs).forward(attrs, params, xs, keep, out)


def backward(attrs, params, cache, dys, *, input_grads=True, param_grads=True):
    """``dz = dy * f'``; ``dW = x^T dz``, ``db = sum_rows dz``, ``dx = dz W^T``."""
    return _math(attrs).backward(
        attrs, params, cache, dys, input_grads=input_grads, param_grads=param_grads
    )


def _math(attrs):
    """The module computing a layer built for one layout: ``_nd_dense`` or ``_dense_chw``."""
    return dense if isinstance(attrs, dense.DenseAttrs) else chw


KIND = LayerKind(
    "innerProduct", build, forward, backward, export, import_, layouts=(CHW, ND), build_nd=build_nd
)
