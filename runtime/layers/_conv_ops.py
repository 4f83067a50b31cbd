"""The linear part of convolution and deconvolution on NHWC blobs, and its two gradients.

Runtime weight layout, per group ``g`` (``G`` groups, ``cg`` input and ``og`` output channels
per group, ``K = kh*kw``):

* convolution: ``W[g]`` is ``(K*cg, og)``, rows ordered ``(i, j, c)``, so the whole batch is
  one GEMM ``im2col(x)_g @ W[g]`` per group; a 1x1 stride-1 unpadded convolution is directly
  ``x.reshape(-1, Cin) @ W[0]``; a depthwise one (``cg == 1``) runs a direct kernel.
* deconvolution (the adjoint of a convolution from the output back to the input):
  ``W[g]`` is ``(K*og, cg)``; forward is ``col2im(x_g @ W[g].T)``, and the input gradient
  is ``im2col(dy)_g @ W[g]``.

Bias and activation are not applied here (see ``_fused.epilogue``).
"""

from __future__ import annotations

import numpy as np

from runtime.kernels import conv as kernels


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


def linear(attrs, w: np.ndarray, x: np.ndarray, z: np.ndarray) -> None:
    """``z = conv(x, W)`` (or the deconvolution) without bias; ``z`` is C-contiguous."""
    groups, z2d = attrs.groups, z.reshape(-1, z.shape[3])
    if is_pointwise(attrs):
        np.matmul(np.ascontiguousarray(x).reshape(-1, x.shape[3]), w[0], out=z2d)
    elif is_depthwise(attrs):
        kernels.depthwise_conv(x, _depthwise_weights(w), *_geometry(attrs), z)
    elif attrs.deconv:
        cg, og = x.shape[3] // groups, z.shape[3] // groups
        x2d = np.ascontiguousarray(x).reshape(-1, x.shape[3])
        z[...] = 0
        for g in range(groups):
            cols = kernels.workspace("deconv_cols", (*x.shape[:3], w.shape[1]), z.dtype)
            np.matmul(x2d[:, g * cg : (g + 1) * cg], w[g].T, out=cols.reshape(-1, w.shape[1]))
            kernels.col2im(cols, g * og, *_geometry(attrs), z)
    else:
        cg, og = x.shape[3] // groups, z.shape[3] // groups
        for g in range(groups):
            cols = _cols("conv_cols", x, attrs, z.shape[1:3], g * cg, cg)
            np.matmul(cols, w[g], out=z2d[:, g * og : (g + 1) * og])


def grad_input(attrs, w: np.ndarray, dz: np.ndarray, x_shape: tuple[int, ...]) -> np.ndarray:
    """d loss / d x for the pre-activation gradient ``dz``."""
    groups, dz2d = attrs.groups, dz.reshape(-1, dz.shape[3])
    if is_pointwise(attrs):
        return (dz2d @ w[0].T).reshape(x_shape)
    dx = np.zeros(x_shape, dz.dtype)
    if is_depthwise(attrs):
        kernels.depthwise_conv_grad_input(dz, _depthwise_weights(w), *_geometry(attrs), dx)
        return dx
    cg, og = x_shape[3] // groups, dz.shape[3] // groups
    dx2d = dx.reshape(-1, x_shape[3])
    for g in range(groups):
        if attrs.deconv:
            cols = _cols("deconv_cols", dz, attrs, x_shape[1:3], g * og, og)
            np.matmul(cols, w[g], out=dx2d[:, g * cg : (g + 1) * cg])
        else:
            dcols = kernels.workspace("conv_cols", (*dz.shape[:3], w.shape[1]), dz.dtype)
            np.matmul(dz2d[:, g * og : (g + 1) * og], w[g].T, out=dcols.reshape(-1, w.shape[1]))
            kernels.col2im(dcols, g * cg, *_geometry(attrs), dx)
    return dx


def grad_weight(attrs, w_shape: tuple[int, ...], x: np.ndarray, dz: np.ndarray) -> np.ndarray:
    """d loss / d W (runtime layout) for input ``x`` and pre-activation gradient ``dz``."""
    groups, dz2d = attrs.groups, dz.reshape(-1, dz.shape[3])
    x2d = np.ascontiguousarray(x).reshape(-1, x.shape[3])
    if is_pointwise(attrs):
        return (x2d.T @ dz2d).reshape(w_shape)
    if is_depthwise(attrs):
        dw = np.zeros((w_shape[1], groups * w_shape[2]), dz.dtype)
        kernels.depthwise_conv_grad_weight(dz, x, *_geometry(attrs), dw)
        return np.ascontiguousarray(dw.reshape(w_shape[1], groups, -1).transpose(1, 0, 2))
    cg, og = x.shape[3] // groups, dz.shape[3] // groups
    dw = np.empty(w_shape, dz.dtype)
    for g in range(groups):
        if attrs.deconv:
            cols = _cols("deconv_cols", dz, attrs, x.shape[1:3], g * og, og)
            np.matmul(cols.T, x2d[:, g * cg : (g + 1) * cg], out=dw[g])
        else:
            cols = _cols("conv_cols", x, attrs, dz.shape[1:3], g * cg, cg)
            np.matmul(cols.T, dz2d[:, g * og : (g + 1) * og], out=dw[g])
    return dw
