"""Runtime, kernels layer: float32 matrix products whose every element is reproducible by
construction.

``matmul_into(a, b, out)`` writes ``out = a @ b`` with the micro-kernel of
``runtime.kernels.microkernel``: each element is one ``fma`` chain over ``k`` in order, so it
is bit for bit the same whatever the other rows and columns of the call are (a batch split
across threads, a mini-batch padded or not, one example alone), whatever the thread count
and whichever BLAS numpy uses. Every block is written in place, the ragged last rows and
columns through masked loads and stores; nothing is allocated, so the kernel is safe to run
without the GIL while ``tracemalloc`` traces allocations (its hooks are not).

Operands: ``a`` ``(M, K)`` with any strides (a transposed view works, e.g. ``x.T`` for a
weight gradient); ``b`` ``(K, N)`` and ``out`` ``(M, N)`` with unit column stride (rows may
be strided, e.g. a channel slice of a concat buffer). The numpy twin is ``np.matmul``: the
same values to float32 rounding, without the reproducibility guarantee.

``matmul_epilogue_into(a, b, out, bias, mode)`` adds the bias (and ReLU) in the micro-kernel's
store, with the rounding of the separate epilogue pass; ``matmul_rows_into`` takes ``A`` as an
address with strides (a convolution's input rows read in place, ``runtime.kernels.gemm``) and
can continue chains already in ``out``. Both give every element the chain ``matmul_into``
gives it.

Why BLAS is never a fallback here, not even for the shapes where it is as fast: a BLAS picks
kernels, tail paths and thread splits by matrix size and by the core type the environment
selects (``OPENBLAS_CORETYPE``), so an element's bits would depend on the batch split and on
the machine's configuration, which this module exists to rule out (docs/reproducibility.md).
"""

from __future__ import annotations

import numpy as np

from runtime.kernels.jit import is_compiled, njit

from .microkernel import (
    EPILOGUE_BIAS_RELU,
    EPILOGUE_NONE,
    MR,
    MR_NARROW,
    NR,
    W,
    narrow_ragged_tile,
    narrow_tile,
    ragged_tile,
    tile,
)

ITEM = 4  # bytes per float32


# Cache blocking: the chains of K are cut into blocks of at most K_BLOCK (continued with
# ``accumulate``), and the columns into blocks whose slice of B (K_BLOCK x N_BLOCK floats)
# stays in L2 while every row of A streams past it. Without it a weight matrix larger than
# L2 (SqueezeNet's conv10: 512 x 1000) was re-read from memory for every 6 rows: 1.9x
# slower than OpenBLAS on that layer.
K_BLOCK = 256
B_BLOCK_BYTES = 1 << 18


@njit
def matmul_into(a, b, out):
    """``out[i, j] = sum_k a[i, k] b[k, j]`` as a ``k``-ordered fma chain (module docstring)."""
    matmul_rows_into(a.ctypes.data, a.shape[0], a.shape[1], a.strides[0] // ITEM,
                     a.strides[1] // ITEM, b, out, 0, EPILOGUE_NONE, 0)  # fmt: skip


@njit
def matmul_epilogue_into(a, b, out, bias, mode):
    """``matmul_into`` whose stores apply the epilogue ``mode`` of the micro-kernel
    (``EPILOGUE_BIAS``: ``+ bias[j]``, ``EPILOGUE_BIAS_RELU``: then ReLU) to the finished
    chains, the same bits as a separate pass; ``bias`` ``(N,)`` is unused for ``EPILOGUE_NONE``.
    Column panels of at most ``W`` columns (all of a narrow matrix, or the last panel of a
    wide one) run through the narrow block."""
    m_size, k_size = a.shape
    a_rs, a_ks = a.strides[0] // ITEM, a.strides[1] // ITEM
    matmul_rows_into(a.ctypes.data, m_size, k_size, a_rs, a_ks, b, out, bias.ctypes.data, mode, 0)


@njit
def matmul_rows_into(a, m_size, k_size, a_rs, a_ks, b, out, bias, mode, continuing):
    """The product of ``matmul_epilogue_into`` with ``A`` given by its address ``a``, shape
    and element strides (rows of a convolution's input read in place) and ``bias`` by its
    address (unread for ``EPILOGUE_NONE``). With ``continuing`` not 0 every chain continues
    from ``out``'s current value (the next rows of K of the same product, exactly as one
    call over all of K would compute them)."""
    n_size = b.shape[1]
    b_ks, ldc = b.strides[0] // ITEM, out.strides[0] // ITEM
    # the columns past the last whole multiple of NR, when they fit one narrow block
    narrow0 = n_size - n_size % NR if 0 < n_size % NR <= W else n_size
    for k0 in range(0, max(k_size, 1), K_BLOCK):
        depth = min(K_BLOCK, k_size - k0)
        accumulate = 1 if k0 > 0 or continuing else 0
        last = k0 + K_BLOCK >= k_size
        epilogue = mode if last else EPILOGUE_NONE
        width = max(NR, B_BLOCK_BYTES // (ITEM * max(depth, 1)) // NR * NR)
        for j1 in range(0, narrow0, width):
            for i0 in range(0, m_size, MR):
                rows = min(MR, m_size - i0)
                a_block = a + (i0 * a_rs + k0 * a_ks) * ITEM
                for j0 in range(j1, min(narrow0, j1 + width), NR):
                    cols = min(NR, narrow0 - j0)
                    b_panel, c_block = b[k0:, j0:].ctypes.data, out[i0, j0:].ctypes.data
                    bias_j = bias + j0 * ITEM
                    if rows == MR and cols == NR:
                        tile(
                            a_block, a_rs, a_ks, b_panel, b_ks, depth, c_block, ldc,
                            accumulate, bias_j, epilogue,
                        )  # fmt: skip
                    else:
                        ragged_tile(
                            a_block, a_rs, a_ks, b_panel, b_ks, depth, c_block, ldc, rows,
                            cols, accumulate, bias_j, epilogue,
                        )  # fmt: skip
        if narrow0 < n_size:
            cols = n_size - narrow0
            b_panel, bias_j = b[k0:, narrow0:].ctypes.data, bias + narrow0 * ITEM
            for i0 in range(0, m_size, MR_NARROW):
                rows = min(MR_NARROW, m_size - i0)
                a_block = a + (i0 * a_rs + k0 * a_ks) * ITEM
                c_block = out[i0, narrow0:].ctypes.data
                if rows == MR_NARROW and cols == W:
                    narrow_tile(
                        a_block, a_rs, a_ks, b_panel, b_ks, depth, c_block, ldc,
                        accumulate, bias_j, epilogue,
                    )  # fmt: skip
                else:
                    narrow_ragged_tile(
                        a_block, a_rs, a_ks, b_panel, b_ks, depth, c_block, ldc, rows,
                        cols, accumulate, bias_j, epilogue,
                    )  # fmt: skip


def _np_matmul_into(a, b, out):
    np.matmul(a, b, out=out)


def _np_matmul_epilogue_into(a, b, out, bias, mode):
    z = a @ b
    if mode != EPILOGUE_NONE:
        z = (z + bias).astype(out.dtype)
    if mode == EPILOGUE_BIAS_RELU:
        z = np.where(z <= 0, np.float32(0), z)
    out[...] = z


JIT = {"matmul_into": matmul_into, "matmul_epilogue_into": matmul_epilogue_into}
NUMPY = {"matmul_into": _np_matmul_into, "matmul_epilogue_into": _np_matmul_epilogue_into}


def reproducible_products() -> bool:
    """Whether float32 products run in :func:`matmul_into` (numba compiled it), so that
    every element is independent of the rows and columns around it."""
    return is_compiled(matmul_into)


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``a @ b`` for 2-D arrays, written into ``out`` when given: float32 products through
    :func:`matmul_into` (reproducible element by element) when the kernels are compiled,
    anything else (float64 gradient checks, no numba) through ``np.matmul``."""
    if out is None:
        out = np.empty((a.shape[0], b.shape[1]), np.result_type(a, b))
    if not (a.dtype == b.dtype == out.dtype == np.float32 and reproducible_products()):
        np.matmul(a, b, out=out)
        return out
    if b.strides[1] != ITEM:
        b = np.ascontiguousarray(b)
    if out.strides[1] != ITEM or out.shape[1] == 0:
        result = np.empty(out.shape, np.float32)
        matmul_into(a, b, result)
        out[...] = result
        return out
    matmul_into(a, b, out)
    return out
