"""Runtime, kernels layer: numpy's BLAS thread count, reached directly.

numpy's extension module links the BLAS, so symbols looked up through its handle reach the
library numpy itself calls, whatever its file is called. When it is an OpenBLAS (numpy's
wheels bundle one), ``openblas_set_num_threads`` / ``openblas_get_num_threads`` let the thread
policy of ``runtime.kernels.parallel`` switch BLAS to one thread around batch-parallel runs. Results
never depend on it: the runtime's float32 products run in its own kernels
(``runtime.kernels.matmul``); BLAS's threads only compete with the chunk threads for cores.

Symbol names of the builds we know: numpy >= 2 wheels (``scipy_`` prefix, ``64_`` suffix),
numpy 1.x wheels (``64_`` suffix), plain builds. With any other BLAS (Accelerate, MKL) the
lookup gives ``None`` and the thread count is left alone.
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
_found: dict = {}


def _libraries():
    for module_name in _NUMPY_CORE:
        try:
            yield ctypes.CDLL(importlib.import_module(module_name).__file__)
        except (ImportError, OSError, AttributeError, TypeError):
            continue


def _lookup():
    for library in _libraries():
        for set_name, get_name in _THREAD_SYMBOLS:
            if hasattr(library, set_name) and hasattr(library, get_name):
                set_threads, get_threads = getattr(library, set_name), getattr(library, get_name)
                set_threads.argtypes, set_threads.restype = [ctypes.c_int], None
                get_threads.argtypes, get_threads.restype = [], ctypes.c_int
                return set_threads, get_threads
    return None


def thread_control():
    """``(set_num_threads, get_num_threads)`` of numpy's OpenBLAS, or ``None``."""
    if not _found:
        _found["threads"] = _lookup()
    return _found["threads"]
