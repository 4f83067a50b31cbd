"""A plain ``cblas_sgemm`` with 32-bit sizes, compiled by numba: it stands in for BLAS builds
whose sgemm takes 32-bit sizes (the kernels are tested against both integer widths) and for
machines whose numpy BLAS offers no sgemm the runtime can reach. Compiled on first use
(``numba.cfunc`` needs the JIT, which ``NUMBA_DISABLE_JIT=1`` turns off)."""

from __future__ import annotations

import ctypes
from functools import lru_cache


@lru_cache(maxsize=1)
def _compiled():
    from numba import carray, cfunc, types

    pointer = types.CPointer(types.float32)
    signature = types.void(
        *[types.int32] * 6,
        types.float32,
        pointer,
        types.int32,
        pointer,
        types.int32,
        types.float32,
        pointer,
        types.int32,
    )

    @cfunc(signature)
    def row_major_sgemm(order, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        # C = alpha A B + beta C, row-major, no transposition (all the kernels ask for)
        left, right, out = carray(a, (m, lda)), carray(b, (k, ldb)), carray(c, (m, ldc))
        for i in range(m):
            for j in range(n):
                total = 0.0
                for p in range(k):
                    total += left[i, p] * right[p, j]
                out[i, j] = alpha * total + (beta * out[i, j] if beta != 0 else 0.0)

    return row_major_sgemm


def sgemm_stand_in():
    """The stand-in behind the prototype the kernels take (addresses as ``size_t``)."""
    size, address = ctypes.c_int, ctypes.c_size_t
    prototype = ctypes.CFUNCTYPE(
        None,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        size,
        size,
        size,
        ctypes.c_float,
        address,
        size,
        address,
        size,
        ctypes.c_float,
        address,
        size,
    )
    return prototype(_compiled().address)
