"""Run a serial kernel on disjoint slices of its work from as many threads as BLAS uses.

Thread policy (with ``runtime/_jit.py``): numba kernels are serial and release the GIL; BLAS
owns its threads during a GEMM. Between two GEMMs those threads are idle (OpenBLAS's idle
workers sleep: measured, they use no CPU while a numba kernel runs), so the memory-bound
kernels around the GEMMs (im2col, bias + activation epilogues, pooling) are split over the
same number of threads, each on its own slice of the batch or of the rows. Slices never
overlap and each is computed exactly as in one call, so results do not depend on the split.
No numba threading layer is involved: any thread may call these helpers concurrently.

The thread count is ``OPENBLAS_NUM_THREADS`` (or ``OMP_NUM_THREADS``) when set, else the number
of CPUs this process may use.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

# Below this many output elements a kernel runs in the calling thread: handing work to another
# thread costs tens of microseconds.
MIN_SPLIT_ELEMENTS = 1 << 17


@lru_cache(maxsize=1)
def thread_count() -> int:
    """Threads the runtime's kernels use (the BLAS thread count, see the module docstring)."""
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").split(",")[0].strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return max(
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1),
        1,
    )


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=thread_count() - 1, thread_name_prefix="kernels")


def split(run: Callable[[int, int], None], items: int, elements: int) -> None:
    """Call ``run(lo, hi)`` over a partition of ``range(items)``, in parallel when worth it.

    ``elements`` is the size of the work (e.g. output elements) deciding whether to split.
    """
    parts = min(thread_count(), items)
    if parts <= 1 or elements < MIN_SPLIT_ELEMENTS:
        run(0, items)
        return
    bounds = [items * k // parts for k in range(parts + 1)]
    futures = [_pool().submit(run, lo, hi) for lo, hi in itertools.pairwise(bounds[1:])]
    run(bounds[0], bounds[1])
    for future in futures:
        future.result()
