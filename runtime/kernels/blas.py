"""Runtime, kernels layer: numpy's BLAS, reached directly: its thread count, and ``sgemm`` for
numba kernels.

numpy's extension module links the BLAS, so symbols looked up through its handle reach the
library numpy itself calls, whatever its file is called. Two things are taken from it when it
is an OpenBLAS (numpy's wheels bundle one):

* ``openblas_set_num_threads`` / ``openblas_get_num_threads``: the thread policy of
  ``runtime.kernels.parallel`` switches BLAS to one thread around batch-parallel runs;
* ``cblas_sgemm``, as a ctypes function pointer that numba kernels take as an argument (not
  as a global, so their machine code holds no address and stays cacheable). A kernel can then
  run im2col, GEMM and epilogue tile by tile in one ``nogil`` call (``kernels.conv``).

Symbol names of the builds we know: numpy >= 2 wheels (``scipy_`` prefix, ``64_`` suffix,
64-bit integers), numpy 1.x wheels (``64_`` suffix), plain builds (32-bit integers). With any
other BLAS (Accelerate, MKL) both lookups give ``None`` and callers keep numpy's own calls.
"""

from __future__ import annotations

import ctypes
import importlib

_NUMPY_CORE = ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath")
_THREAD_SYMBOLS = (
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
    ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
    ("openblas_set_num_threads", "openblas_get_num_threads"),
)
# (symbol, integer type of its sizes): ILP64 builds take 64-bit sizes
_SGEMM_SYMBOLS = (
    ("scipy_cblas_sgemm64_", ctypes.c_int64),
    ("cblas_sgemm64_", ctypes.c_int64),
    ("scipy_cblas_sgemm", ctypes.c_int),
    ("cblas_sgemm", ctypes.c_int),
)
# CBLAS enum values: row-major storage, no transposition
ROW_MAJOR, NO_TRANS = 101, 111

_found: dict = {}


def _libraries():
    for module_name in _NUMPY_CORE:
        try:
            yield ctypes.CDLL(importlib.import_module(module_name).__file__)
        except (ImportError, OSError, AttributeError, TypeError):
            continue


def _lookup():
    threads = sgemm = None
    for library in _libraries():
        for set_name, get_name in _THREAD_SYMBOLS:
            if threads is None and hasattr(library, set_name) and hasattr(library, get_name):
                set_threads, get_threads = getattr(library, set_name), getattr(library, get_name)
                set_threads.argtypes, set_threads.restype = [ctypes.c_int], None
                get_threads.argtypes, get_threads.restype = [], ctypes.c_int
                threads = (set_threads, get_threads)
        for name, size in _SGEMM_SYMBOLS:
            if sgemm is None and hasattr(library, name):
                sgemm = _sgemm_pointer(library, name, size)
    return threads, sgemm


def _sgemm_pointer(library, name: str, size):
    """``cblas_sgemm(order, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)``
    with the matrices as addresses (``size_t``: the same registers as pointers), so that a
    kernel can pass ``array.ctypes.data``."""
    address = ctypes.cast(getattr(library, name), ctypes.c_void_p).value
    enum, real, address_t = ctypes.c_int, ctypes.c_float, ctypes.c_size_t
    prototype = ctypes.CFUNCTYPE(
        None,
        enum,
        enum,
        enum,
        size,
        size,
        size,
        real,
        address_t,
        size,
        address_t,
        size,
        real,
        address_t,
        size,
    )
    return prototype(address)


def _get(what: str):
    if not _found:
        _found["threads"], _found["sgemm"] = _lookup()
    return _found[what]


def thread_control():
    """``(set_num_threads, get_num_threads)`` of numpy's OpenBLAS, or ``None``."""
    return _get("threads")


def sgemm():
    """numpy's ``cblas_sgemm`` as a ctypes function pointer for numba kernels, or ``None``."""
    return _get("sgemm")
