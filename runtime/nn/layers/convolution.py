"""Runtime, neural-network layer: Core ML ``convolution`` layer: grouped / depthwise / dilated
convolution and deconvolution.

``ConvolutionLayerParams`` (NeuralNetwork.proto): ``y = conv(x, W) + b`` per group, with Core ML
weights ``[Cout, Cin/groups, kH, kW]`` (deconvolution: ``[Cin, Cout/groups, kH, kW]``) and the
padding rules of ``runtime.nn.layers._window``. Runtime weights ``W`` are
``(groups, kH*kW*Cin/groups, Cout/groups)`` (deconvolution: ``(groups, kH*kW*Cout/groups,
Cin/groups)``), see ``_conv_ops``; ``b`` is ``(Cout,)``.

A fused activation (``with_activation``) is applied in the same pass that adds the bias; with
``out`` the result is written straight into the given array (possibly a channel slice of a
concat buffer). Without bias and activation (e.g. a convolution whose epilogue the execution
plan moved past a max pooling, ``runtime.nn.epilogues``) the GEMM output is the result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from . import _conv_ops
from ._common import expect_inputs, where
from ._fused import Activation, activation_grad
from ._weights import float_weights
from ._window import Window, conv_window, deconv_window
from .base import Built, LayerKind, Shape


@dataclass(frozen=True)
class ConvolutionAttrs:
    in_channels: int
    out_channels: int
    groups: int
    window: Window
    in_hw: tuple[int, int]
    deconv: bool
    has_bias: bool
    activation: str | None = None  # name of a fused activation (ARCHITECTURE "Fusion")
    fused: Activation | None = None

    @property
    def blob_channels(self) -> int:
        """Channels of the output blob (what a fused activation's parameters cover)."""
        return self.out_channels


def build(layer, in_shapes: list[Shape]) -> Built:
    expect_inputs(layer, in_shapes, 1, 2)
    p = layer.convolution
    height, width, cin = in_shapes[0]
    groups, cout = max(int(p.nGroups), 1), int(p.outputChannels)
    expected_kc = cin if p.isDeconvolution else cin // groups
    if cin % groups or cout % groups or int(p.kernelChannels) != expected_kc:
        raise ShapeError(
            f"{where(layer)}: input has C = {cin}, nGroups = {groups}, outputChannels = {cout}: "
            f"kernelChannels must be {expected_kc} and both channel counts divisible by "
            f"nGroups; got kernelChannels = {p.kernelChannels}"
        )
    geometry = deconv_window if p.isDeconvolution else conv_window
    window = geometry(layer, p, (height, width))
    attrs = ConvolutionAttrs(
        cin, cout, groups, window, (height, width), bool(p.isDeconvolution), bool(p.hasBias)
    )
    kh, kw = window.kernel
    core_ml = float_weights(layer, "weights", p.weights, cout * cin // groups * kh * kw)
    params = import_(attrs, {"weights": core_ml})
    if p.hasBias:
        params["b"] = float_weights(layer, "bias", p.bias, cout)
    return Built(attrs, params, [(*window.out_hw, cout)])


def _core_ml_shape(attrs: ConvolutionAttrs) -> tuple[int, ...]:
    kh, kw = attrs.window.kernel
    if attrs.deconv:
        return attrs.in_channels, attrs.out_channels // attrs.groups, kh, kw
    return attrs.out_channels, attrs.in_channels // attrs.groups, kh, kw


def export(attrs: ConvolutionAttrs, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Runtime parameters -> ``{"weights": [Cout, Cin/g, kH, kW] (or deconvolution's
    [Cin, Cout/g, kH, kW]), "bias": [Cout]}`` in Core ML layout (dtype kept: float32 at run
    time, float64 in gradient checks)."""
    kh, kw = attrs.window.kernel
    w = params["W"]
    g, _, per_group = w.shape
    # runtime rows are (i, j, c); Core ML wants (group*per_group, c, i, j)
    blocks = w.reshape(g, kh, kw, -1, per_group).transpose(0, 4, 3, 1, 2)
    arrays = {"weights": np.ascontiguousarray(blocks.reshape(_core_ml_shape(attrs)))}
    if "b" in params:
        arrays["bias"] = np.array(params["b"])
    return arrays


def import_(attrs: ConvolutionAttrs, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Core ML layout (flat or shaped) -> runtime parameters ``{"W", "b"}`` (float32)."""
    kh, kw = attrs.window.kernel
    lead, inner, _, _ = _core_ml_shape(attrs)
    g = attrs.groups
    w = np.asarray(arrays["weights"], np.float32).reshape(g, lead // g, inner, kh, kw)
    runtime = w.transpose(0, 3, 4, 2, 1).reshape(g, kh * kw * inner, lead // g)
    params = {"W": np.ascontiguousarray(runtime)}
    if arrays.get("bias") is not None:
        params["b"] = np.asarray(arrays["bias"], np.float32).reshape(attrs.out_channels).copy()
    return params


def forward(attrs: ConvolutionAttrs, params, xs, keep=False, out=None):
    """``y = f(conv(x, W) + b)``; caches ``(x, y)`` for backward when ``keep``."""
    x = xs[0]
    if x.shape[1:] != (*attrs.in_hw, attrs.in_channels):
        raise ShapeError(
            f"convolution expects inputs of shape (N, H, W, C) = (N, {attrs.in_hw[0]}, "
            f"{attrs.in_hw[1]}, {attrs.in_channels}); got {x.shape}"
        )
    w = params["W"]
    shape = (x.shape[0], *attrs.window.out_hw, attrs.out_channels)
    y = out[0] if out is not None and out[0] is not None else np.empty(shape, np.result_type(x, w))
    # the GEMM writes straight into y, even a concat slot (BLAS takes a row stride), and the
    # epilogue runs in place, tile by tile where the tiled kernels apply
    _conv_ops.forward(attrs, w, x, y, params.get("b"), attrs.fused)
    return [y], ((x, y) if keep else None)


def backward(attrs: ConvolutionAttrs, params, cache, dys, *, input_grads=True, param_grads=True):
    """Gradients of ``y = f(conv(x, W) + b)``: ``dz = dy * f'``, ``db = sum dz``,
    ``dW = im2col(x)^T dz`` and ``dx = col2im(dz W^T)`` per group."""
    x, y = cache
    dz = np.ascontiguousarray(activation_grad(attrs.fused, y, dys[0]))
    grads = {}
    if param_grads:
        grads["W"] = _conv_ops.grad_weight(attrs, params["W"].shape, x, dz)
        if "b" in params:
            grads["b"] = dz.reshape(-1, attrs.out_channels).sum(axis=0)
    dx = _conv_ops.grad_input(attrs, params["W"], dz, x.shape) if input_grads else None
    return [dx], grads


KIND = LayerKind(
    oneof="convolution",
    build=build,
    forward=forward,
    backward=backward,
    export=export,
    import_=import_,
)
