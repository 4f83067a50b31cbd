"""Runtime, neural-network layer: Core ML ``convolution3d`` layer: grouped, dilated 3-D
convolution and transposed convolution.

``Convolution3DLayerParams`` (NeuralNetwork.proto, Core ML 4): input ``[..., C, D, H, W]``
(rank 5 or more, leading axes batch), ``G = nGroups`` groups of ``C / G`` input and ``C' /
G`` output channels::

    y[o, z, r, c] = b[o] + sum_{i, p, q, t} W[o, i, p, q, t]
                      * x[g*C/G + i, z*s_d + p*d_d, r*s_h + q*d_h, c*s_w + t*d_w]

with ``g = o // (C' / G)``, weights ``[C', C / G, kD, kH, kW]``, on the input padded per
``paddingType`` (``runtime.nn.layers._control_window3d``). ``isDeconvolution`` computes the
transpose (torch's ``conv_transpose3d``): weights ``[C, C' / G, kD, kH, kW]`` (as the 2-D
deconvolution's proto comment and coremltools' writers order them; the 3-D comment's
``[C' / G, C, ...]`` is not what its writers store), a full output of ``(X - 1) * s + d *
(k - 1) + 1`` per axis, cropped before by the padding (CUSTOM: its front/top/left; SAME:
half of what exceeds ``X * s``, rounded down; VALID: nothing) to ``outputShape`` when set,
else to ``full - front - back`` (CUSTOM), ``X * s`` (SAME) or ``full`` (VALID). Torch's
``output_padding`` arrives as a larger ``outputShape``; rows past the full output hold the
bias only.

Products go through ``runtime.kernels.matmul`` (im2col rows), so every example's output is
the same alone or in a batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runtime.kernels.matmul import matmul
from updatable.errors import ShapeError

from ._common import weight_array, where
from ._control_window3d import Window3D, patches, positive, transpose_geometry, window
from .base import ND, Built, CoreMLShape, LayerKind


@dataclass(frozen=True)
class Conv3DAttrs:
    groups: int
    window: Window3D  # of the (stride-1) convolution that runs
    deconv: tuple | None  # (stride, crop before, output size) per axis for a transpose
    out_channels: int


def _weights(layer, params, cin: int, cout: int, groups: int, kernel) -> np.ndarray:
    """``(G, C/G * kD*kH*kW, C'/G)`` GEMM operands of the convolution that runs."""
    cg, og, volume = cin // groups, cout // groups, int(np.prod(kernel))
    count = cin * og * volume if params.isDeconvolution else cout * cg * volume
    w = weight_array(layer, "weights", params.weights, count)
    if params.isDeconvolution:  # [C, C'/G, k...] -> flipped [C', C/G, k...] per group
        w = w.reshape(groups, cg, og, *kernel)[:, :, :, ::-1, ::-1, ::-1].swapaxes(1, 2)
    w = w.reshape(groups, og, cg * volume)
    return np.ascontiguousarray(w.transpose(0, 2, 1))


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    if len(in_shapes) != 1 or len(in_shapes[0]) < 5:
        raise ShapeError(
            f"{where(layer)}: takes 1 input of rank 5 or more [..., C, D, H, W]; "
            f"got shapes {[list(s) for s in in_shapes]}"
        )
    params, shape = layer.convolution3d, tuple(in_shapes[0])
    cin, cout, groups = int(params.inputChannels), int(params.outputChannels), int(params.nGroups)
    if shape[-4] != cin or min(cin, cout, groups) < 1 or cin % groups or cout % groups:
        raise ShapeError(
            f"{where(layer)}: inputChannels {cin}, outputChannels {cout} and "
            f"nGroups {groups} must be positive, nGroups dividing both, and the "
            f"input must have {cin} channels; it has shape {list(shape)}"
        )
    kernel = positive(
        layer, (params.kernelDepth, params.kernelHeight, params.kernelWidth), "kernel sizes"
    )
    stride = positive(
        layer, (params.strideDepth, params.strideHeight, params.strideWidth), "strides"
    )
    dilation = positive(
        layer, (params.dilationDepth, params.dilationHeight, params.dilationWidth), "dilations"
    )
    spatial = shape[-3:]
    if params.isDeconvolution:
        win, deconv = transpose_geometry(layer, params, spatial, kernel, stride, dilation)
        out_spatial = deconv[2]
    else:
        win, deconv = window(layer, params, spatial, kernel, stride, dilation), None
        out_spatial = win.out
    weights = {"W": _weights(layer, params, cin, cout, groups, kernel)}
    if params.hasBias:
        weights["b"] = weight_array(layer, "bias", params.bias, cout)
    attrs = Conv3DAttrs(groups, win, deconv, cout)
    return Built(attrs, weights, [(*shape[:-4], cout, *out_spatial)])


def forward(attrs: Conv3DAttrs, params, xs, keep=False, out=None):
    """im2col + one product per group (module docstring)."""
    del keep, out
    x = xs[0]
    lead, (cin, *spatial) = x.shape[:-4], x.shape[-4:]
    x = x.reshape(-1, cin, *spatial)
    if attrs.deconv is not None:
        (sd, sh, sw), (d, h, w) = attrs.deconv[0], spatial
        stuffed = np.zeros(
            (*x.shape[:2], (d - 1) * sd + 1, (h - 1) * sh + 1, (w - 1) * sw + 1), x.dtype
        )
        stuffed[:, :, ::sd, ::sh, ::sw] = x  # zeros between the inputs: a stride-1 convolution
        x = stuffed
    w, groups = params["W"].astype(x.dtype, copy=False), attrs.groups
    cols = patches(x, attrs.window)
    rows, cg = int(np.prod(cols.shape[:1] + cols.shape[2:5])), cin // groups
    y = np.empty((rows, attrs.out_channels), x.dtype)
    og = attrs.out_channels // groups
    for g in range(groups):
        a = cols[:, g * cg : (g + 1) * cg].transpose(0, 2, 3, 4, 1, 5, 6, 7).reshape(rows, -1)
        y[:, g * og : (g + 1) * og] = matmul(np.ascontiguousarray(a), w[g])
    y = y.reshape(x.shape[0], *attrs.window.out, attrs.out_channels)
    y = np.moveaxis(y, -1, 1)
    if attrs.deconv is not None:
        y = _crop(y, attrs.deconv[1], attrs.deconv[2])
    if "b" in params:
        y = y + params["b"].astype(x.dtype, copy=False).reshape(-1, 1, 1, 1)
    return [np.ascontiguousarray(y.reshape(*lead, *y.shape[1:]))], None


def _crop(y: np.ndarray, before, size) -> np.ndarray:
    """``y[..., before : before + size]`` per spatial axis, zeros past its end."""
    needed = [max(0, b + s - n) for b, s, n in zip(before, size, y.shape[2:], strict=True)]
    if any(needed):
        y = np.pad(y, ((0, 0), (0, 0), *((0, n) for n in needed)))
    (a, b, c), (p, q, r) = before, size
    return y[:, :, a : a + p, b : b + q, c : c + r]


KIND = LayerKind("convolution3d", build, forward, layouts=(ND,))
