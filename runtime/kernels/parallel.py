"""Runtime, kernels layer: the runtime's thread policy: batch-parallel forward passes over
single-threaded BLAS.

A forward-only run (inference, and the frozen part of a training step) of a batch of ``N >= 2``
examples is cut into ``k = min(N, workers())`` contiguous chunks along the batch axis; chunk 0
runs on the calling thread and the others on a small pool of worker threads, each chunk
running every step serially (numba kernels are ``nogil``; scratch buffers are per thread).
Meanwhile BLAS runs single-threaded, so each thread's GEMMs stay on its own core and the
memory-bound kernels (im2col, epilogues, pooling) run in parallel too, which BLAS's own
threads cannot do. Examples are independent in every layer the runtime runs forward, and
each element of a float32 product is computed the same way whatever the rows around it
(``runtime.kernels.matmul``), so the result is that of one serial run, bit for bit, by
construction: whatever the split, the thread count or the BLAS kernel. Measured on SqueezeNet 1.1,
batch 8, 2 cores, before the tiled kernels of ``kernels.gemm``: 56 ms serial with 2 BLAS
threads, 39 ms in two chunks.

Why BLAS must stay single-threaded around training steps too: after a multi-threaded call,
OpenBLAS's idle worker threads keep spinning for about 0.1 s (``OPENBLAS_THREAD_TIMEOUT``,
read once when the library loads, so the toolkit cannot change it after numpy is imported).
Spinning next to the two chunk threads made the next batch-parallel forward run 2x slower
(83 ms instead of 39). ``backprop.loss_and_gradients`` therefore runs inside
:func:`serial_blas` as well, and the pool never wakes during an update task.

Policy, set by the toolkit and never required of the user:

* ``workers()`` is BLAS's own thread count as configured when first asked (so
  ``OPENBLAS_NUM_THREADS=1`` keeps the runtime serial), capped by the CPUs the process may use;
  :func:`configure` overrides it (``configure(workers=1)`` turns batch splitting off).
* The BLAS thread switch is reference counted and restores the previous count when the last
  region ends, so concurrent update tasks (threaded sweeps) compose.
* Without an OpenBLAS reached through numpy (``runtime.kernels.blas``; e.g. Accelerate or
  MKL builds) the thread count cannot be switched, so ``workers()`` is 1: runs stay serial
  with BLAS's own threads.
* A run started from inside a chunk (nested) stays serial instead of waiting on the pool.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from runtime.kernels import blas

_lock = threading.Lock()
_local = threading.local()  # .inside: this thread is running a chunk
_state: dict = {
    "workers": None,
    "override": None,
    "pool": None,
    "pool_size": 0,
    "depth": 0,
    "saved": None,
}


def _after_fork_in_child() -> None:
    # the child has none of the parent's threads: forget the pool and any open BLAS region
    _state.update(pool=None, pool_size=0, depth=0, saved=None)
    _local.inside = False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def blas_threads() -> int | None:
    """BLAS's current thread count, or ``None`` when it cannot be read."""
    control = blas.thread_control()
    return None if control is None else int(control[1]())


def workers() -> int:
    """How many chunks a batch-parallel run may use (see the module docstring)."""
    if _state["override"] is not None:
        return _state["override"] if blas.thread_control() is not None else 1
    if _state["workers"] is None:
        threads = blas_threads() if _state["depth"] == 0 else _state["saved"]
        _state["workers"] = 1 if threads is None else max(1, min(threads, _usable_cpus()))
    return _state["workers"]


def configure(workers: int | None = None) -> None:
    """Override the number of chunks (``None``: back to BLAS's thread count)."""
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be a positive integer or None; got {workers}")
    with _lock:
        _state["override"] = workers


@contextlib.contextmanager
def single_threaded_blas():
    """BLAS on one thread inside the block (reference counted; a no-op without OpenBLAS)."""
    control = blas.thread_control()
    if control is None:
        yield
        return
    set_threads, get_threads = control
    with _lock:
        if _state["depth"] == 0:
            _state["saved"] = int(get_threads())
            if _state["saved"] != 1:
                set_threads(1)
        _state["depth"] += 1
    try:
        yield
    finally:
        with _lock:
            _state["depth"] -= 1
            if _state["depth"] == 0 and _state["saved"] != 1:
                set_threads(_state["saved"])


def serial_blas():
    """:func:`single_threaded_blas` when runs are batch-parallel, else a no-op (keeps BLAS's
    worker threads asleep between the chunked forwards of a training loop)."""
    return single_threaded_blas() if workers() > 1 else contextlib.nullcontext()


def _pool(size: int) -> ThreadPoolExecutor:
    with _lock:
        pool = _state["pool"]
        if pool is None or _state["pool_size"] < size:
            if pool is not None:
                pool.shutdown(wait=False)
            pool = ThreadPoolExecutor(size, thread_name_prefix="coreml-updatable")
            _state["pool"], _state["pool_size"] = pool, size
    return pool


def _as_chunk(run, feeds):
    _local.inside = True
    try:
        return run(feeds)
    finally:
        _local.inside = False


def chunk_bounds(batch: int, chunks: int) -> list[tuple[int, int]]:
    """``chunks`` contiguous ``[lo, hi)`` ranges covering ``range(batch)``, sizes within 1."""
    edges = [batch * i // chunks for i in range(chunks + 1)]
    return list(itertools.pairwise(edges))


def each_chunk(work, batch: int) -> None:
    """``work(lo, hi)`` over the chunks of ``range(batch)``, in parallel like :func:`over_batch`
    (for ``nogil`` kernels that write their slice of a preallocated output)."""
    chunks = min(workers(), batch)
    if chunks < 2 or getattr(_local, "inside", False):
        work(0, batch)
        return
    bounds = chunk_bounds(batch, chunks)
    futures = [_pool(chunks - 1).submit(work, lo, hi) for lo, hi in bounds[1:]]
    try:
        work(*bounds[0])
    finally:
        for future in futures:
            future.result()


def over_batch(run, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``run(feeds)``, split along the batch axis across threads when that pays (see the module
    docstring); outputs are the chunks' outputs concatenated in order."""
    sizes = {value.shape[0] for value in feeds.values()}
    chunks = min(workers(), sizes.pop()) if len(sizes) == 1 else 1
    if chunks < 2 or getattr(_local, "inside", False):
        return run(feeds)
    parts = [
        {name: value[lo:hi] for name, value in feeds.items()}
        for lo, hi in chunk_bounds(next(iter(feeds.values())).shape[0], chunks)
    ]
    with single_threaded_blas():
        futures = [_pool(chunks - 1).submit(_as_chunk, run, part) for part in parts[1:]]
        results = []  # bound before the first chunk runs: its error must reach the caller
        try:
            results.append(_as_chunk(run, parts[0]))
        finally:
            results += [future.result() for future in futures]
    return {name: np.concatenate([result[name] for result in results]) for name in results[0]}
