"""Runtime, kernels layer: convolution kernels on NHWC blobs: im2col / col2im for the GEMM path,
and a direct depthwise convolution with its two backward kernels.

Geometry arguments are shared by every kernel: kernel ``(kh, kw)``, stride ``(sh, sw)``,
dilation ``(dh, dw)`` and the top/left padding ``(pad_top, pad_left)``; the output size is read
from the output array. Padded positions read as zero (Core ML: "Padded values are all zeros",
``ConvolutionLayerParams``).

Column layout: ``cols[n, oh, ow, (i*kw + j)*cg + c]`` holds
``x[n, oh*sh - pad_top + i*dh, ow*sw - pad_left + j*dw, c0 + c]``; seen as a matrix
``(N*Ho*Wo, kh*kw*cg)``, one GEMM ``cols @ W`` with ``W`` of shape ``(kh*kw*cg, Cout)``
convolves the whole batch.

Kernels are serial; a batch runs in chunks on separate threads instead
(``runtime.kernels.parallel``). Float32 convolutions mostly run through the tiled kernels of
``runtime.kernels.gemm``, which share this module's column layout; ``im2col`` serves the other
cases and the backward pass.

``workspace`` hands out reusable scratch arrays (one growing buffer per tag and thread, kept
for the thread's lifetime), so large im2col matrices are not re-allocated on every call.
Results never live in a workspace: callers copy out of it through a GEMM or an epilogue, so
forward stays pure.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from runtime.kernels.jit import njit

_scratch = threading.local()


def workspace(tag: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """A scratch array of ``shape`` for this thread; its contents are overwritten by the next
    request with the same ``tag``, so it must not outlive the kernel call that uses it."""
    buffers = _scratch.__dict__.setdefault("buffers", {})
    dtype = np.dtype(dtype)
    size = math.prod(shape)
    key = (tag, dtype)
    buffer = buffers.get(key)
    if buffer is None or buffer.size < size:
        buffer = np.empty(size, dtype)
        buffers[key] = buffer
    return buffer[:size].reshape(shape)


@njit
def im2col(x, c0, kh, kw, sh, sw, dh, dw, pad_top, pad_left, cols):
    """Gather ``kh*kw`` shifted windows of channels ``c0 : c0 + cg`` into ``cols``
    ``(N, Ho, Wo, kh*kw*cg)``. ``x`` must be C-contiguous."""
    n_batch, height, width, channels = x.shape
    _, ho, wo, k_size = cols.shape
    cg = k_size // (kh * kw)
    run = kw * cg
    # With all channels and no horizontal dilation, the kw taps of one kernel row are one
    # contiguous run of x's (w, c) memory: copy it as such (vectorises even for cg = 3).
    flat = x.reshape(n_batch, height, width * channels)
    contiguous_taps = dw == 1 and cg == channels
    for n in range(n_batch):
        for oh in range(ho):
            for ow in range(wo):
                iw0 = ow * sw - pad_left
                inside = iw0 >= 0 and iw0 + kw <= width
                for i in range(kh):
                    ih = oh * sh - pad_top + i * dh
                    base = i * run
                    if ih < 0 or ih >= height:
                        for t in range(run):
                            cols[n, oh, ow, base + t] = 0.0
                    elif contiguous_taps and inside:
                        start = iw0 * channels
                        for t in range(run):
                            cols[n, oh, ow, base + t] = flat[n, ih, start + t]
                    else:
                        for j in range(kw):
                            iw = iw0 + j * dw
                            tap = base + j * cg
                            if 0 <= iw < width:
                                for c in range(cg):
                                    cols[n, oh, ow, tap + c] = x[n, ih, iw, c0 + c]
                            else:
                                for c in range(cg):
                                    cols[n, oh, ow, tap + c] = 0.0


@njit
def col2im(cols, c0, kh, kw, sh, sw, dh, dw, pad_top, pad_left, dx):
    """Adjoint of ``im2col``: scatter-add ``cols`` into channels ``c0 : c0 + cg`` of ``dx``."""
    n_batch, height, width, _ = dx.shape
    _, ho, wo, k_size = cols.shape
    cg = k_size // (kh * kw)
    for n in range(n_batch):
        for oh in range(ho):
            for ow in range(wo):
                for i in range(kh):
                    ih = oh * sh - pad_top + i * dh
                    if ih < 0 or ih >= height:
                        continue
                    for j in range(kw):
                        iw = ow * sw - pad_left + j * dw
                        if iw < 0 or iw >= width:
                            continue
                        base = (i * kw + j) * cg
                        for c in range(cg):
                            dx[n, ih, iw, c0 + c] += cols[n, oh, ow, base + c]


@njit
def depthwise_conv(x, w, kh, kw, sh, sw, dh, dw, pad_top, pad_left, out):
    """``out[n,oh,ow,o] = sum_ij x[n, oh*sh-pt+i*dh, ow*sw-pl+j*dw, o // m] * w[i*kw+j, o]``
    with channel multiplier ``m = Cout / Cin``; ``w`` has shape ``(kh*kw, Cout)``."""
    n_batch, height, width, cin = x.shape
    _, ho, wo, cout = out.shape
    mult = cout // cin
    source = np.arange(cout) // mult  # input channel of each output channel
    for n in range(n_batch):
        for oh in range(ho):
            for ow in range(wo):
                for o in range(cout):
                    out[n, oh, ow, o] = 0.0
                for i in range(kh):
                    ih = oh * sh - pad_top + i * dh
                    if ih < 0 or ih >= height:
                        continue
                    for j in range(kw):
                        iw = ow * sw - pad_left + j * dw
                        if iw < 0 or iw >= width:
                            continue
                        k = i * kw + j
                        # NOTE: separate loops so the common m = 1 case vectorises
                        if mult == 1:
                            for o in range(cout):
                                out[n, oh, ow, o] += x[n, ih, iw, o] * w[k, o]
                        else:
                            for o in range(cout):
                                out[n, oh, ow, o] += x[n, ih, iw, source[o]] * w[k, o]


@njit
def depthwise_conv_grad_input(dz, w, kh, kw, sh, sw, dh, dw, pad_top, pad_left, dx):
    """Input gradient of ``depthwise_conv``, accumulated into ``dx`` (zero it first)."""
    n_batch, height, width, cin = dx.shape
    _, ho, wo, cout = dz.shape
    mult = cout // cin
    for n in range(n_batch):
        for oh in range(ho):
            for ow in range(wo):
                for i in range(kh):
                    ih = oh * sh - pad_top + i * dh
                    if ih < 0 or ih >= height:
                        continue
                    for j in range(kw):
                        iw = ow * sw - pad_left + j * dw
                        if iw < 0 or iw >= width:
                            continue
                        k = i * kw + j
                        if mult == 1:
                            for o in range(cout):
                                dx[n, ih, iw, o] += dz[n, oh, ow, o] * w[k, o]
                        else:
                            for o in range(cout):
                                dx[n, ih, iw, o // mult] += dz[n, oh, ow, o] * w[k, o]


@njit
def depthwise_conv_grad_weight(dz, x, kh, kw, sh, sw, dh, dw, pad_top, pad_left, dw_out):
    """Weight gradient of ``depthwise_conv``, accumulated into ``dw_out`` ``(kh*kw, Cout)``."""
    n_batch, height, width, cin = x.shape
    _, ho, wo, cout = dz.shape
    mult = cout // cin
    source = np.arange(cout) // mult
    for n in range(n_batch):
        for oh in range(ho):
            for ow in range(wo):
                for i in range(kh):
                    ih = oh * sh - pad_top + i * dh
                    if ih < 0 or ih >= height:
                        continue
                    for j in range(kw):
                        iw = ow * sw - pad_left + j * dw
                        if iw < 0 or iw >= width:
                            continue
                        k = i * kw + j
                        if mult == 1:
                            for o in range(cout):
                                dw_out[k, o] += dz[n, oh, ow, o] * x[n, ih, iw, o]
                        else:
                            for o in range(cout):
                                dw_out[k, o] += dz[n, oh, ow, o] * x[n, ih, iw, source[o]]


# ---- numpy twins (same names and signatures) ----------------------------------------------


def _windows(kh, kw, sh, sw, dh, dw, ho, wo):
    """Yield ``(k, rows, cols)``: for tap ``k = i*kw + j`` the slices of the zero-padded input
    (padded top and left by the kernel's padding) that tap ``k`` reads at every output."""
    for i in range(kh):
        for j in range(kw):
            r0, c0 = i * dh, j * dw
            yield (
                i * kw + j,
                slice(r0, r0 + sh * (ho - 1) + 1, sh),
                slice(c0, c0 + sw * (wo - 1) + 1, sw),
            )


def _padded_size(size, k, s, d, pad, out):
    # room for the last window even when the true bottom/right padding is smaller
    return max(size + pad, (out - 1) * s + (k - 1) * d + 1)


def _np_im2col(x, c0, kh, kw, sh, sw, dh, dw, pad_top, pad_left, cols):
    n, h, w, _ = x.shape
    _, ho, wo, k_size = cols.shape
    cg = k_size // (kh * kw)
    hp = _padded_size(h, kh, sh, dh, pad_top, ho)
    wp = _padded_size(w, kw, sw, dw, pad_left, wo)
    xp = np.zeros((n, hp + pad_top, wp + pad_left, cg), x.dtype)
    xp[:, pad_top : pad_top + h, pad_left : pad_left + w] = x[..., c0 : c0 + cg]
    taps = cols.reshape(n, ho, wo, kh * kw, cg)
    for k, rows, cs in _windows(kh, kw, sh, sw, dh, dw, ho, wo):
        taps[:, :, :, k] = xp[:, rows, cs]


def _np_col2im(cols, c0, kh, kw, sh, sw, dh, dw, pad_top, pad_left, dx):
    n, h, w, _ = dx.shape
    _, ho, wo, k_size = cols.shape
    cg = k_size // (kh * kw)
    hp = _padded_size(h, kh, sh, dh, pad_top, ho)
    wp = _padded_size(w, kw, sw, dw, pad_left, wo)
    acc = np.zeros((n, hp + pad_top, wp + pad_left, cg), dx.dtype)
    taps = cols.reshape(n, ho, wo, kh * kw, cg)
    for k, rows, cs in _windows(kh, kw, sh, sw, dh, dw, ho, wo):
        acc[:, rows, cs] += taps[:, :, :, k]
    dx[..., c0 : c0 + cg] += acc[:, pad_top : pad_top + h, pad_left : pad_left + w]


def _np_depthwise_taps(x, kh, kw, sh, sw, dh, dw, pad_top, pad_left, ho, wo, mult):
    """The ``(N, Ho, Wo, kh*kw, Cout)`` input values each output channel multiplies."""
    cols = np.empty((x.shape[0], ho, wo, kh * kw * x.shape[3]), x.dtype)
    _np_im2col(x, 0, kh, kw, sh, sw, dh, dw, pad_top, pad_left, cols)
    taps = cols.reshape(x.shape[0], ho, wo, kh * kw, x.shape[3])
    return np.repeat(taps, mult, axis=4)


def _np_depthwise_conv(x, w, kh, kw, sh, sw, dh, dw, pad_top, pad_left, out):
    _, ho, wo, cout = out.shape
    taps = _np_depthwise_taps(
        x, kh, kw, sh, sw, dh, dw, pad_top, pad_left, ho, wo, cout // x.shape[3]
    )
    out[...] = np.einsum("nhwkc,kc->nhwc", taps, w)


def _np_depthwise_conv_grad_input(dz, w, kh, kw, sh, sw, dh, dw, pad_top, pad_left, dx):
    n, ho, wo, cout = dz.shape
    cin = dx.shape[3]
    per_tap = (dz[:, :, :, None, :] * w).reshape(n, ho, wo, kh * kw, cin, cout // cin)
    cols = per_tap.sum(axis=5).reshape(n, ho, wo, kh * kw * cin)
    _np_col2im(cols, 0, kh, kw, sh, sw, dh, dw, pad_top, pad_left, dx)


def _np_depthwise_conv_grad_weight(dz, x, kh, kw, sh, sw, dh, dw, pad_top, pad_left, dw_out):
    _, ho, wo, cout = dz.shape
    taps = _np_depthwise_taps(
        x, kh, kw, sh, sw, dh, dw, pad_top, pad_left, ho, wo, cout // x.shape[3]
    )
    dw_out += np.einsum("nhwkc,nhwc->kc", taps, dz)


JIT = {
    "im2col": im2col,
    "col2im": col2im,
    "depthwise_conv": depthwise_conv,
    "depthwise_conv_grad_input": depthwise_conv_grad_input,
    "depthwise_conv_grad_weight": depthwise_conv_grad_weight,
}
NUMPY = {
    "im2col": _np_im2col,
    "col2im": _np_col2im,
    "depthwise_conv": _np_depthwise_conv,
    "depthwise_conv_grad_input": _np_depthwise_conv_grad_input,
    "depthwise_conv_grad_weight": _np_depthwise_conv_grad_weight,
}
