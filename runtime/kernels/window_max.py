"""Runtime, kernels layer: max pooling with a bias and ReLU after it (a convolution's deferred
epilogue, ``runtime.nn.epilogues``), one vector of channels of one window at a time in
registers.

``max_pool_bias_relu(x, kh, kw, sh, sw, pad_top, pad_left, bias, mode, out)`` writes, for every
window of ``x`` (NHWC) clipped to the input (geometry of ``runtime.kernels.pool``)::

    m = x[first pixel]; for each pixel p in row-major order: m = p if p > m else m
    out = m + bias (mode 1), max(m + bias, 0) with NaN kept (mode 2), m (mode 0)

and 0 for a window with no input pixel: the values ``pool.max_pool_bias_activation`` gives
for the identity and ReLU, bit for bit (same comparisons in the same order, so the same
winner among equal values and the same NaN behaviour, and the same rounding).

Why a vector intrinsic: written as numba loops, each window pixel is a loop over the channels
behind a run-time alias check, and SqueezeNet's pool1 (64 channels) took about three times
a copy of its input. Here one call loads a ``W``-lane vector of channels from each window
pixel, keeps the running maximum in a register and stores once (masked for the last, partial
vector of channels).
"""

from __future__ import annotations

import numpy as np

from runtime.kernels.jit import HAVE_NUMBA, njit
from runtime.kernels.microkernel import W, _Emitter
from runtime.kernels.pool import _clip

ITEM = 4  # bytes per float32


def _emit_window(context, builder, args):
    """IR of one window's running maximum over ``rows x cols`` pixels, for ``lanes`` channels."""
    x_addr, row_stride, col_stride, rows, cols, bias_addr, mode, out_addr, lanes = args
    emit = _Emitter(builder, 1, 1, rows=None, cols=lanes)
    ir = emit.ir
    pointer = emit.f32.as_pointer()
    x, bias, out = (builder.inttoptr(a, pointer) for a in (x_addr, bias_addr, out_addr))
    first = emit.load(x, emit.constant(0), 0)
    entry = builder.block
    function = builder.function
    row_head, col_head, col_body, row_next, done = (
        function.append_basic_block(f"window.{n}") for n in ("rh", "ch", "cb", "rn", "d")
    )
    builder.branch(row_head)

    builder.position_at_end(row_head)
    i = builder.phi(emit.i64)
    row_max = builder.phi(emit.vec)
    i.add_incoming(emit.constant(0), entry)
    row_max.add_incoming(first, entry)
    builder.cbranch(builder.icmp_signed("<", i, rows), col_head, done)

    builder.position_at_end(col_head)
    j = builder.phi(emit.i64)
    col_max = builder.phi(emit.vec)
    j.add_incoming(emit.constant(0), row_head)
    col_max.add_incoming(row_max, row_head)
    builder.cbranch(builder.icmp_signed("<", j, cols), col_body, row_next)

    builder.position_at_end(col_body)
    offset = builder.add(builder.mul(i, row_stride), builder.mul(j, col_stride))
    value = emit.load(x, offset, 0)
    larger = builder.fcmp_ordered(">", value, col_max)
    j.add_incoming(builder.add(j, emit.constant(1)), col_body)
    col_max.add_incoming(builder.select(larger, value, col_max), col_body)
    builder.branch(col_head)

    builder.position_at_end(row_next)
    i.add_incoming(builder.add(i, emit.constant(1)), row_next)
    row_max.add_incoming(col_max, row_next)
    builder.branch(row_head)

    builder.position_at_end(done)
    zero = ir.Constant(emit.vec, [0.0] * W)
    with_bias = builder.fadd(row_max, emit.load(bias, emit.constant(0), 0))
    clipped = builder.select(builder.fcmp_ordered("<=", with_bias, zero), zero, with_bias)
    result = builder.select(
        builder.icmp_signed("==", mode, emit.constant(0)),
        row_max,
        builder.select(builder.icmp_signed("==", mode, emit.constant(2)), clipped, with_bias),
    )
    target = builder.bitcast(out, emit.vec.as_pointer())
    store_type = [emit.vec, emit.vec.as_pointer(), emit.i32, emit.mask_type]
    store = emit._intrinsic(f"llvm.masked.store.v{W}f32.p0", ir.VoidType(), store_type)
    builder.call(store, [result, target, ir.Constant(emit.i32, 4), emit.masks[0]])
    return context.get_dummy_value()


def _make_window():
    from numba import types
    from numba.extending import intrinsic

    @intrinsic
    def window(typingctx, x, row_stride, col_stride, rows, cols, bias, mode, out, lanes):
        del typingctx, x, row_stride, col_stride, rows, cols, bias, mode, out, lanes

        def codegen(context, builder, sig, values):
            del sig
            return _emit_window(context, builder, values)

        return types.void(*([types.intp] * 9)), codegen

    return window


# window(x, row_stride, col_stride, rows, cols, bias, mode, out, lanes): addresses and element
# strides; the running maximum of ``lanes`` channels over rows x cols pixels, then the epilogue
window = _make_window() if HAVE_NUMBA else None


@njit
def max_pool_bias_relu(x, kh, kw, sh, sw, pad_top, pad_left, bias, mode, out):
    """Module docstring; ``mode`` 0 (max only), 1 (+ bias) or 2 (+ bias, then ReLU)."""
    n_batch, height, width, channels = x.shape
    _, ho, wo, _ = out.shape
    row_stride, col_stride = x.strides[1] // ITEM, x.strides[2] // ITEM
    for n in range(n_batch):
        for oh in range(ho):
            h0, h1 = _clip(oh, sh, pad_top, kh, height)
            for ow in range(wo):
                w0, w1 = _clip(ow, sw, pad_left, kw, width)
                target = out[n, oh, ow]
                if h0 >= h1 or w0 >= w1:
                    target[:] = 0.0
                    continue
                for c0 in range(0, channels, W):
                    window(
                        x[n, h0, w0, c0:].ctypes.data, row_stride, col_stride, h1 - h0,
                        w1 - w0, bias[c0:].ctypes.data, mode, target[c0:].ctypes.data,
                        min(W, channels - c0),
                    )  # fmt: skip


def _np_max_pool_bias_relu(x, kh, kw, sh, sw, pad_top, pad_left, bias, mode, out):
    _, ho, wo, _ = out.shape
    for oh in range(ho):
        h0, h1 = max(oh * sh - pad_top, 0), min(oh * sh - pad_top + kh, x.shape[1])
        for ow in range(wo):
            w0, w1 = max(ow * sw - pad_left, 0), min(ow * sw - pad_left + kw, x.shape[2])
            if h0 >= h1 or w0 >= w1:
                out[:, oh, ow] = 0
                continue
            m = np.max(x[:, h0:h1, w0:w1].reshape(x.shape[0], -1, x.shape[3]), axis=1)
            if mode:
                m = (m + bias).astype(out.dtype)
            out[:, oh, ow] = np.where(m <= 0, 0, m) if mode == 2 else m


JIT = {"max_pool_bias_relu": max_pool_bias_relu}
NUMPY = {"max_pool_bias_relu": _np_max_pool_bias_relu}
