"""Runtime, kernels layer: tiled convolution kernels: im2col, the reproducible matrix product
and the bias + activation epilogue, one tile of output rows at a time, in a single ``nogil`` call.

Matrices are row-major: ``a`` / ``cols`` ``(rows, K)``, ``w`` ``(K, N)``, and the output is
channels ``o0 : o0 + N`` of a C-contiguous buffer with ``C_total`` channels (a concat buffer or
the layer's own output). Products go through ``runtime.kernels.matmul.matmul_into``, so every
output element is the same whatever tile, chunk or thread computes it. The epilogue runs on
each tile right after its product, while the rows are in cache; ``epilogue=False`` leaves the
bare product (a bias deferred past a max pooling, ``runtime.nn.epilogues``).

Why tiles: the im2col rows of a tile stay in L2 while the product reads them, and one kernel
call per layer leaves the GIL free for the other chunk's thread (``runtime.kernels.parallel``).

Bias + ReLU (or the bias alone) are applied by the micro-kernel's store
(``matmul_epilogue_into``), the same bits as the separate pass, which other activations still
take. A convolution whose windows all lie inside the input, over all channels and without
horizontal dilation, with short tap runs (a first layer like SqueezeNet's conv1) or one kernel
row, skips im2col: each kernel row of a window is a contiguous run of the input, so the
product reads the input rows in place, one kernel row after the other continuing the same
chains (``_direct_line``): the im2col product's bits, without writing the columns (conv1: 3.7
-> 2.7 ms per 4 images on one core).

Numpy twins take the same arguments and ignore the tile size and the scratch.
"""

from __future__ import annotations

import numpy as np

from runtime.kernels.conv import _np_im2col
from runtime.kernels.elementwise import IDENTITY, RELU, _epilogue_row_in_place, _np_activate
from runtime.kernels.jit import njit
from runtime.kernels.matmul import matmul_epilogue_into, matmul_rows_into
from runtime.kernels.microkernel import EPILOGUE_BIAS, EPILOGUE_BIAS_RELU, EPILOGUE_NONE

SHORT_RUN = 16  # tap runs (kw * channels) shorter than this take _im2col_short
DIRECT_MAX_RUN = 32  # longest tap run read in place (see reads_rows_in_place)


@njit
def _im2col_lines(x, c0, kh, kw, sh, sw, dh, dw, pad_top, pad_left, ho, wo, line0, lines, cols):
    # the im2col rows of output lines (n, oh) = divmod(line0 ... line0 + lines - 1, ho)
    # NOTE: loops index slices from 0: an index like `start + t` may be negative as far as numba
    # knows, and its wrap-around check stops LLVM from vectorising (measured 1.5x slower)
    n_batch, height, width, channels = x.shape
    cg = cols.shape[1] // (kh * kw)
    run = kw * cg
    flat = x.reshape(n_batch, height, width * channels)
    contiguous_taps = dw == 1 and cg == channels
    r = 0
    for line in range(line0, line0 + lines):
        n = line // ho
        oh = line - n * ho
        for ow in range(wo):
            iw0 = ow * sw - pad_left
            inside = iw0 >= 0 and iw0 + (kw - 1) * dw < width
            row = cols[r]
            r += 1
            for i in range(kh):
                ih = oh * sh - pad_top + i * dh
                dst = row[i * run : (i + 1) * run]
                if ih < 0 or ih >= height:
                    dst[:] = 0.0
                elif contiguous_taps and inside:
                    src = flat[n, ih, iw0 * channels : iw0 * channels + run]
                    for t in range(run):
                        dst[t] = src[t]
                else:
                    for j in range(kw):
                        iw = iw0 + j * dw
                        tap = dst[j * cg : (j + 1) * cg]
                        if 0 <= iw < width:
                            src = x[n, ih, iw, c0 : c0 + cg]
                            for c in range(cg):
                                tap[c] = src[c]
                        else:
                            tap[:] = 0.0


@njit
def _im2col_short(x, c0, kh, kw, sh, sw, dh, dw, pad_top, pad_left, ho, wo, line0, lines, cols):
    # the same columns as _im2col_lines, for short tap runs (kw * cg < SHORT_RUN, e.g. a first
    # layer reading 3 colour channels): one input row at a time across the whole output line,
    # offsets indexed directly instead of one slice per tap; conv1 of SqueezeNet (C = 3, runs
    # of 9 values) 1.5 -> 0.85 ms per 4 images, while runs of 48 are 7% slower this way
    n_batch, height, width, channels = x.shape
    cg = cols.shape[1] // (kh * kw)
    run = kw * cg
    flat = x.reshape(n_batch, height, width * channels)
    contiguous_taps = dw == 1 and cg == channels
    r = 0
    for line in range(line0, line0 + lines):
        n = line // ho
        oh = line - n * ho
        for i in range(kh):
            ih = oh * sh - pad_top + i * dh
            first = i * run
            if ih < 0 or ih >= height:
                for ow in range(wo):
                    for t in range(run):
                        cols[r + ow, first + t] = 0.0
                continue
            source = flat[n, ih]
            for ow in range(wo):
                iw0 = ow * sw - pad_left
                row = cols[r + ow]
                if contiguous_taps and iw0 >= 0 and iw0 + (kw - 1) * dw < width:
                    start = iw0 * channels
                    for t in range(run):
                        row[first + t] = source[start + t]
                else:
                    for j in range(kw):
                        iw = iw0 + j * dw
                        tap = first + j * cg
                        if 0 <= iw < width:
                            for c in range(cg):
                                row[tap + c] = x[n, ih, iw, c0 + c]
                        else:
                            for c in range(cg):
                                row[tap + c] = 0.0
        r += wo


@njit
def _epilogue_tile(out, row0, rows, o0, bias, code, alpha, beta):
    channels = bias.shape[0]
    block = out[row0 : row0 + rows]  # see the NOTE in _im2col_lines: rows counted from 0
    for r in range(block.shape[0]):
        _epilogue_row_in_place(block[r, o0 : o0 + channels], bias, code, alpha, beta)


@njit
def _store_mode(epilogue, code):
    # the micro-kernel's store applies a bias and ReLU itself; other activations (-1) take
    # the separate pass over the tile
    if not epilogue:
        return EPILOGUE_NONE
    if code == IDENTITY:
        return EPILOGUE_BIAS
    return EPILOGUE_BIAS_RELU if code == RELU else -1


@njit
def _product_tile(a, w, out, row0, rows, o0, bias, code, alpha, beta, mode):
    # rows row0 ... row0 + rows - 1 of out[:, o0 : o0 + N] = f(a @ w + bias)
    target = out[row0 : row0 + rows, o0 : o0 + w.shape[1]]
    matmul_epilogue_into(a, w, target, bias, max(mode, EPILOGUE_NONE))
    if mode < 0:
        _epilogue_tile(out, row0, rows, o0, bias, code, alpha, beta)


@njit
def reads_rows_in_place(x, c0, kh, kw, sh, sw, dh, dw, pad_top, pad_left, ho, wo, k_size):
    """Whether ``conv_tiles`` skips im2col: every window inside the input, all channels, no
    horizontal dilation (each kernel row of every window is one contiguous run of x, and a
    line's runs are rows of stride sw*C), and one kernel row or runs of at most
    ``DIRECT_MAX_RUN`` values: each kernel row is one more pass over the output tile, which
    costs more than im2col saves on long runs (3x3 over 64 channels: 2.6 against 1.9 ms)."""
    height, width, channels = x.shape[1], x.shape[2], x.shape[3]
    return (
        (kh == 1 or kw * channels <= DIRECT_MAX_RUN)
        and pad_top == 0
        and pad_left == 0
        and dw == 1
        and c0 == 0
        and k_size == kh * kw * channels
        and (ho - 1) * sh + (kh - 1) * dh < height
        and (wo - 1) * sw + kw - 1 < width
        and x.flags.c_contiguous
    )


@njit
def _direct_line(x, n, oh, kh, kw, sh, sw, dh, w, bias, mode, flat, row0, wo, o0):
    # output line (n, oh) without im2col: kernel row i is the product of the rows
    # x[n, oh*sh + i*dh, ow*sw*C : ...] (kw*C values each) with rows i*kw*C ... of w, each
    # continuing the chains of the row before: the im2col product's chains, operand for operand
    channels = x.shape[3]
    run = kw * channels
    target = flat[row0 : row0 + wo, o0 : o0 + w.shape[1]]
    bias_address = bias.ctypes.data
    for i in range(kh):
        a = x[n, oh * sh + i * dh].ctypes.data
        last = mode if i == kh - 1 else EPILOGUE_NONE
        rows = w[i * run : (i + 1) * run]
        matmul_rows_into(a, wo, run, sw * channels, 1, rows, target, bias_address, last, i > 0)


@njit
def matmul_tiles(a, w, bias, code, alpha, beta, epilogue, tile, out, o0):
    """``out[r, o0 + j] = f(sum_k a[r, k] w[k, j] + bias[j])`` (``f`` the activation ``code``;
    no bias or activation without ``epilogue``), ``tile`` rows per product."""
    mode = _store_mode(epilogue, code)
    for row0 in range(0, a.shape[0], tile):
        rows = min(tile, a.shape[0] - row0)
        _product_tile(a[row0 : row0 + rows], w, out, row0, rows, o0, bias, code, alpha, beta, mode)


@njit
def conv_tiles(
    x,
    c0,
    kh,
    kw,
    sh,
    sw,
    dh,
    dw,
    pad_top,
    pad_left,
    w,
    bias,
    code,
    alpha,
    beta,
    epilogue,
    lines,
    cols,
    out,
    o0,
):
    """Convolution of channels ``c0 : c0 + cg`` of ``x`` (NHWC) with ``w`` ``(kh*kw*cg, N)``:
    ``out[n, oh, ow, o0 + j] = f(sum_k im2col(x)[(n, oh, ow), k] w[k, j] + bias[j])``, computed
    ``lines`` output rows ``(n, oh)`` at a time through the scratch ``cols``
    ``(>= lines*Wo, kh*kw*cg)``; geometry as in ``kernels.conv``."""
    n_batch = x.shape[0]
    _, ho, wo, c_total = out.shape
    flat = out.reshape(n_batch * ho * wo, c_total)
    total = n_batch * ho
    mode = _store_mode(epilogue, code)
    geometry = (kh, kw, sh, sw, dh, dw, pad_top, pad_left, ho, wo, w.shape[0])
    if mode >= 0 and reads_rows_in_place(x, c0, *geometry):
        for line in range(total):
            n = line // ho
            oh = line - n * ho
            _direct_line(x, n, oh, kh, kw, sh, sw, dh, w, bias, mode, flat, line * wo, wo, o0)
        return
    for line0 in range(0, total, lines):
        count = min(lines, total - line0)
        if kw * (cols.shape[1] // (kh * kw)) < SHORT_RUN:
            _im2col_short(
                x, c0, kh, kw, sh, sw, dh, dw, pad_top, pad_left, ho, wo, line0, count, cols
            )
        else:
            _im2col_lines(
                x, c0, kh, kw, sh, sw, dh, dw, pad_top, pad_left, ho, wo, line0, count, cols
            )
        row0, rows = line0 * wo, count * wo
        _product_tile(cols[:rows], w, flat, row0, rows, o0, bias, code, alpha, beta, mode)


# ---- numpy twins (same names and signatures) ----------------------------------------------


def _np_matmul_tiles(a, w, bias, code, alpha, beta, epilogue, tile, out, o0):
    del tile
    z = a @ w
    out[:, o0 : o0 + w.shape[1]] = _np_activate(z + bias, code, alpha, beta) if epilogue else z


def _np_conv_tiles(
    x,
    c0,
    kh,
    kw,
    sh,
    sw,
    dh,
    dw,
    pad_top,
    pad_left,
    w,
    bias,
    code,
    alpha,
    beta,
    epilogue,
    lines,
    cols,
    out,
    o0,
):
    del lines, cols
    n, ho, wo, _ = out.shape
    full = np.empty((n, ho, wo, w.shape[0]), x.dtype)
    _np_im2col(x, c0, kh, kw, sh, sw, dh, dw, pad_top, pad_left, full)
    z = full.reshape(-1, w.shape[0]) @ w
    if epilogue:
        z = _np_activate(z + bias, code, alpha, beta)
    out[..., o0 : o0 + w.shape[1]] = z.reshape(n, ho, wo, -1)


JIT = {"matmul_tiles": matmul_tiles, "conv_tiles": conv_tiles}
NUMPY = {"matmul_tiles": _np_matmul_tiles, "conv_tiles": _np_conv_tiles}
