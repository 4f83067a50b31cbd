"""Runtime, kernels layer: numba configuration shared by every kernel module.

Thread policy (``runtime.kernels.parallel``): numba kernels run serially and release the GIL
(``nogil``); parallelism comes from running the chunks of a batch on separate threads, each
with single-threaded BLAS (measured: parallel numba kernels next to OpenBLAS's threads on 2
cores ran about 2.6x slower, because idle OpenBLAS threads spin). The ``workqueue`` threading
layer is selected before numba loads, should a kernel ever opt into ``parallel=True``, because
it does not spin against BLAS threads.

``cache=True`` stores compiled machine code next to the sources (or in numba's user cache
directory when that is read-only), so a second process does not recompile.

Without numba installed, ``njit`` returns the plain Python function: every kernel has a
numpy twin and runs (slowly) as Python, as with ``NUMBA_DISABLE_JIT=1``.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

try:
    import numba
except ImportError:  # pragma: no cover - exercised only without numba installed
    numba = None  # type: ignore[assignment]  # the module, or None without numba

HAVE_NUMBA = numba is not None


def njit(*args, **kwargs):
    """``numba.njit`` with ``cache=True`` and ``nogil=True`` by default; identity without numba."""
    if numba is None:
        if args and callable(args[0]):
            return args[0]
        return lambda function: function
    kwargs.setdefault("cache", True)
    kwargs.setdefault("nogil", True)
    return numba.njit(*args, **kwargs)


def prange(*args):
    """``numba.prange`` inside parallel kernels, ``range`` elsewhere."""
    return numba.prange(*args) if numba is not None else range(*args)


def is_compiled(function) -> bool:
    """Whether ``function`` is a numba dispatcher (``False`` without numba or with
    ``NUMBA_DISABLE_JIT=1``, where a kernel's loops would run as plain Python)."""
    return hasattr(function, "py_func")
