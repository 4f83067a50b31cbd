"""Runtime, neural-network layer: the linear part of convolution and deconvolution on NHWC blobs,
and its two gradients.

Runtime weight layout, per group ``g`` (``G`` groups, ``cg`` input and ``og`` output channels
per group, ``K = kh*kw``):

* convolution: ``W[g]`` is ``(K*cg, og)``, rows ordered ``(i, j, c)``, so the whole batch is
  one GEMM ``im2col(x)_g @ W[g]`` per group; a 1x1 stride-1 unpadded convolution is directly
  ``x.reshape(-1, Cin) @ W[0]``; a depthwise one (``cg == 1``) runs a direct kernel.
* deconvolution (the adjoint of a convolution from the output back to the input):
  ``W[g]`` is ``(K*og, cg)``; forward is ``col2im(x_g @ W[g].T)``, and the input gradient
  is ``im2col(dy)_g @ W[g]``.

``linear`` applies no bias or activation (see ``_fused.epilogue_in_place``); ``forward``
applies both, inside the tiled kernels of ``runtime.kernels.gemm`` where it can.
"""

from __future__ import annotations

import numpy as np

from runtime.kernels import conv as kernels
from runtime.kernels import gemm as gemm_kernels
from runtime.kernels.jit import is_compiled
from runtime.kernels.matmul import matmul, matmul_into

from ._fused import activation_vectors, channel_buffer, epilogue_in_place, rows


def _geometry(attrs) -> tuple[int, ...]:
    window = attrs.window
    (kh, kw), (sh, sw), (dh, dw) = window.kernel, window.stride, window.dilation
    return kh, kw, sh, sw, dh, dw, window.pads[0], window.pads[2]


def is_pointwise(attrs) -> bool:
    w = attrs.window
    return (
        not attrs.deconv
        and attrs.groups == 1
        and w.kernel == (1, 1)
        and w.stride == (1, 1)
        and w.pads == (0, 0, 0, 0)
    )


def is_depthwise(attrs) -> bool:
    return not attrs.deconv and attrs.groups > 1 and attrs.groups == attrs.in_channels


def _depthwise_weights(w: np.ndarray) -> np.ndarray:
    # (G, K, m) -> (K, G*m): output channel o = g*m + j reads input channel g
    return np.ascontiguousarray(w.transpose(1, 0, 2).reshape(w.shape[1], -1))


def _cols(tag: str, blob: np.ndarray, attrs, size: tuple[int, int], c0: int, cg: int):
    """im2col of channels ``c0 : c0+cg`` of ``blob`` into a scratch ``(N*Ho*Wo, K*cg)``."""
    kh, kw = attrs.window.kernel
    blob, geometry = np.ascontiguousarray(blob), _geometry(attrs)
    cols = kernels.workspace(tag, (blob.shape[0], *size, kh * kw * cg), blob.dtype)
    kernels.im2col(blob, c0, *geometry, cols)
    return cols.reshape(-1, cols.shape[3])


# Im2col tiles hold about COLS_BYTES of columns, so they are still in L2 when the product
# reads them; a pointwise convolution reads its input rows in place, TILE_ROWS at a time.
COLS_BYTES = 1 << 18
TILE_ROWS = 1024


def forward(attrs, w, x, z, bias, activation) -> None:
    """``z = f(conv(x, W) + bias)`` (no epilogue when both are ``None``); ``z`` is an NHWC
    array or a channel slice of one. Float32 convolutions (not deconvolution or depthwise)
    run as the tiled kernels of ``runtime.kernels.gemm`` when they are compiled; everything
    else as ``linear`` followed by the in-place epilogue."""
    if not _tiled(attrs, w, x, z, bias, activation):
        linear(attrs, w, x, z)
        epilogue_in_place(z, bias, activation)


def _tiled(attrs, w, x, z, bias, activation) -> bool:
    float32 = all(a.dtype == np.float32 for a in (x, w, z))
    if not is_compiled(matmul_into) or not float32 or attrs.deconv:
        return False
    if is_depthwise(attrs):
        return False
    target = channel_buffer(z)
    if target is None:
        return False
    if z.size == 0:
        return True  # an empty batch: nothing to write
    buffer, first = target
    x = np.ascontiguousarray(x)
    groups, channels = attrs.groups, z.shape[3]
    cg, og = x.shape[3] // groups, channels // groups
    alpha, beta, code = activation_vectors(activation, channels, np.float32)
    apply = bias is not None or activation is not None
    bias = np.zeros(channels, np.float32) if bias is None else bias
    for g in range(groups):
        part = slice(g * og, (g + 1) * og)
        epilogue = (bias[part], code, alpha[part], beta[part], apply)
        if is_pointwise(attrs):
            a = x.reshape(-1, x.shape[3])
            out = buffer.reshape(-1, buffer.shape[3])
            gemm_kernels.matmul_tiles(a, w[g], *epilogue, TILE_ROWS, out, first + g * og)
            continue
        total, wo = x.shape[0] * attrs.window.out_hw[0], attrs.window.out_hw[1]
        lines = min(max(1, COLS_BYTES // (w.shape[1] * 4 * wo)), total)
        cols = kernels.workspace("conv_cols", (lines * wo, w.shape[1]), np.float32)
        gemm_kernels.conv_tiles(
            x, g * cg, *_geometry(attrs), w[g], *epilogue, lines, cols, buffer, first + g * og
        )
    return True


def linear(attrs, w: np.ndarray, x: np.ndarray, z: np.ndarray) -> None:
    """``z = conv(x, W)`` (or the deconvolution) without bias; ``z`` is an NHWC array or a
    channel slice of one (rows may be strided, channels are contiguous)."""
    groups, z2d = attrs.groups, rows(z)
    if is_pointwise(attrs):
        matmul(np.ascontiguousarray(x).reshape(-1, x.shape[3]), w[0], z2d)
    elif is_depthwise(attrs):
        kernels.depthwise_conv(x, _depthwise_weights(w), *_geometry(attrs), z)
    elif attrs.deconv:
        cg, og = x.shape[3] // groups, z.shape[3] // groups
        x2d = np.ascontiguousarray(x).reshape(-1, x.shape[3])
        z[...] = 0
        for g in range(groups):
            cols = kernels.workspace("deconv_cols", (*x.shape[:3], w.shape[1]), z.dtype)
            matmul(x2d[:, g * cg : (g + 1) * cg], w[g].T, cols.reshape(-1, w.shape[1]))
            kernels.col2im(cols, g * og, *_geometry(attrs), z)
    else:
        cg, og = x.shape[3] // groups, z.shape[3] // groups
        for g in range(groups):
            cols = _cols("conv_cols", x, attrs, z.shape[1:3], g * cg, cg)
            matmul(cols, w[g], z2d[:, g * og : (g + 1) * og])


def grad_input(attrs, w: np.ndarray, dz: np.ndarray, x_shape: tuple[int, ...]) -> np.ndarray:
    """d loss / d x for the pre-activation gradient ``dz``."""
    groups, dz2d = attrs.groups, dz.reshape(-1, dz.shape[3])
    if is_pointwise(attrs):
        return matmul(dz2d, w[0].T).reshape(x_shape)
    dx = np.zeros(x_shape, dz.dtype)
    if is_depthwise(attrs):
        kernels.depthwise_conv_grad_input(dz, _depthwise_weights(w), *_geometry(attrs), dx)
        return dx
    cg, og = x_shape[3] // groups, dz.shape[3] // groups
    dx2d = dx.reshape(-1, x_shape[3])
    for g in range(groups):
        if attrs.deconv:
            cols = _cols("deconv_cols", dz, attrs, (x_shape[1], x_shape[2]), g * og, og)
            matmul(cols, w[g], dx2d[:, g * cg : (g + 1) * cg])
        else:
            dcols = kernels.workspace("conv_cols", (*dz.shape[:3], w.shape[1]), dz.dtype)
            matmul(dz2d[:, g * og : (g + 1) * og], w[g].T, dcols.reshape(-1, w.shape[1]))
            kernels.col2im(dcols, g * cg, *_geometry(attrs), dx)
    return dx


def grad_weight(attrs, w_shape: tuple[int, ...], x: np.ndarray, dz: np.ndarray) -> np.ndarray:
    """d loss / d W (runtime layout) for input ``x`` and pre-activation gradient ``dz``."""
    groups, dz2d = attrs.groups, dz.reshape(-1, dz.shape[3])
    x2d = np.ascontiguousarray(x).reshape(-1, x.shape[3])
    if is_pointwise(attrs):
        return matmul(x2d.T, dz2d).reshape(w_shape)
    if is_depthwise(attrs):
        dw = np.zeros((w_shape[1], groups * w_shape[2]), dz.dtype)
        kernels.depthwise_conv_grad_weight(dz, x, *_geometry(attrs), dw)
        return np.ascontiguousarray(dw.reshape(w_shape[1], groups, -1).transpose(1, 0, 2))
    cg, og = x.shape[3] // groups, dz.shape[3] // groups
    dw = np.empty(w_shape, dz.dtype)
    for g in range(groups):
        if attrs.deconv:
            cols = _cols("deconv_cols", dz, attrs, x.shape[1:3], g * og, og)
            matmul(cols.T, x2d[:, g * cg : (g + 1) * cg], dw[g])
        else:
            cols = _cols("conv_cols", x, attrs, dz.shape[1:3], g * cg, cg)
            matmul(cols.T, dz2d[:, g * og : (g + 1) * og], dw[g])
    return dw
