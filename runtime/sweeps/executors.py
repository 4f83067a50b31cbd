"""Runtime, sweeps layer: where sweep tasks run: in this process, on a local process pool, or on a
Dask cluster.

Every executor has one method, ``run(function, shared, items)``, which calls
``function(shared, item)`` for every item and yields ``(item, result)`` pairs as they finish
(in any order). ``shared`` (the model and the data) travels once to each worker, not with
every task. A task whose worker dies (killed, out of memory) is run again, up to ``retries``
more times, then :class:`WorkerLostError` is raised; an exception raised *by* a task
propagates at once. Stopping the iteration early (an interrupt) cancels what has not started.

* :class:`SerialExecutor` runs the tasks one after another in the calling process.
* :class:`LocalExecutor` runs them on a pool of ``workers`` processes (default: one per core).
  Processes are *spawned*, and each gets ``cores // workers`` BLAS threads through
  ``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` / ``MKL_NUM_THREADS``: two workers on two
  cores each with two BLAS threads would fight over the cores.
* :class:`DaskExecutor` submits to a ``distributed`` scheduler (``tcp://host:port``) or to a
  ``Client`` (for example of a ``LocalCluster``); the scheduler re-runs tasks of a lost worker
  itself, and a task that exhausts its allowed failures (``KilledWorker``) is resubmitted here.
  Install with ``pip install 'coreml-updatable[dask]'``. Start workers with
  ``OMP_NUM_THREADS=1`` and one thread each for the same reason as above.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from updatable.errors import MissingDependencyError, ParameterError, WorkerLostError

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
DEFAULT_RETRIES = 2


def available_cores() -> int:
    """CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


class SerialExecutor:
    """Run every task in the calling process, in order (debugging, and the baseline)."""

    name = "serial"

    def run(self, function: Callable, shared: Any, items: Sequence) -> Iterator[tuple[Any, Any]]:
        for item in items:
            yield item, function(shared, item)


class LocalExecutor:
    """A pool of spawned worker processes on this machine (see the module docstring)."""

    name = "local"

    def __init__(self, workers: int | None = None, *, retries: int = DEFAULT_RETRIES):
        cores = available_cores()
        if workers is not None and (isinstance(workers, bool) or int(workers) < 1):
            raise ParameterError(f"workers must be a positive integer; got {workers!r}")
        self.workers = int(workers) if workers is not None else cores
        self.blas_threads = max(1, cores // self.workers)
        self.retries = retries

    def run(self, function: Callable, shared: Any, items: Sequence) -> Iterator[tuple[Any, Any]]:
        # spawned workers read the thread limits from the environment when they start
        with _environment({name: str(self.blas_threads) for name in _THREAD_VARIABLES}):
            yield from self._run(function, shared, items)

    def _run(self, function, shared, items):
        import concurrent.futures as cf
        from concurrent.futures.process import BrokenProcessPool

        pending = list(range(len(items)))[::-1]  # a stack: pop() takes the next item
        attempts = [0] * len(items)
        pool, in_flight = None, {}
        try:
            while pending or in_flight:
                if pool is None:
                    pool = self._pool(shared)
                # a bounded window: results stream back, and a lost pool costs few retries
                while pending and len(in_flight) < 2 * self.workers:
                    index = pending.pop()
                    try:
                        future = pool.submit(_call_shared, function, items[index])
                    except BrokenProcessPool:
                        # a worker died after the last results came in: this item never ran;
                        # the tasks in flight fail below and the pool is replaced there
                        pending.append(index)
                        if not in_flight:
                            pool.shutdown(wait=True, cancel_futures=True)
                            pool = self._pool(shared)
                            continue
                        break
                    in_flight[future] = index
                done, _ = cf.wait(in_flight, return_when=cf.FIRST_COMPLETED)
                lost = []
                for future in done:
                    index = in_flight.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        lost.append(index)
                        continue
                    yield items[index], result
                if not lost:
                    continue
                # a worker died: any task in flight may have been the one, so all are retried
                lost += in_flight.values()
                for index in lost:
                    attempts[index] += 1
                exhausted = [items[i] for i in lost if attempts[i] > self.retries]
                if exhausted:
                    raise WorkerLostError(
                        f"{len(exhausted)} task(s) lost their worker process more than "
                        f"{self.retries} time(s) (it crashed or was killed, e.g. out of "
                        f"memory): {[getattr(t, 'key', t) for t in exhausted[:5]]}; if the "
                        "workers died at start, note that they are spawned: a script that "
                        "starts a sweep needs its code under `if __name__ == '__main__':`"
                    )
                pool.shutdown(wait=True, cancel_futures=True)
                pool, in_flight = None, {}
                pending += lost
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    def _pool(self, shared):
        import concurrent.futures as cf
        import multiprocessing

        return cf.ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_set_shared,
            initargs=(shared,),
        )


class DaskExecutor:
    """Tasks on a Dask ``distributed`` cluster (see the module docstring)."""

    name = "dask"

    def __init__(self, scheduler, *, retries: int = DEFAULT_RETRIES):
        try:
            import distributed
        except ImportError:
            raise MissingDependencyError(
                "the Dask executor needs the 'distributed' package; install it with "
                "`pip install 'coreml-updatable[dask]'`"
            ) from None
        self._distributed = distributed
        self.scheduler = scheduler
        self.retries = retries

    def run(self, function: Callable, shared: Any, items: Sequence) -> Iterator[tuple[Any, Any]]:
        distributed = self._distributed
        own_client = isinstance(self.scheduler, str)
        client = distributed.Client(self.scheduler) if own_client else self.scheduler
        futures: dict = {}
        try:
            # a task that returns the shared data rather than scatter(): scattered data dies
            # with its worker, a task's result is recomputed by the scheduler
            shared_future = client.submit(_identity, shared, pure=False)
            attempts = [0] * len(items)

            def submit(index: int):
                future = client.submit(
                    _call_with,
                    function,
                    shared_future,
                    items[index],
                    pure=False,
                    retries=self.retries,
                )
                futures[future] = index
                return future

            completed = distributed.as_completed([submit(i) for i in range(len(items))])
            for future in completed:
                index = futures.pop(future)
                try:
                    result = future.result()
                except distributed.KilledWorker:
                    attempts[index] += 1
                    if attempts[index] > self.retries:
                        raise WorkerLostError(
                            f"task {getattr(items[index], 'key', index)} killed its Dask "
                            f"workers more than {self.retries} time(s)"
                        ) from None
                    completed.add(submit(index))
                    continue
                yield items[index], result
        finally:
            if futures:
                client.cancel(list(futures))
            if own_client:
                client.close()


def make_executor(
    executor=None, *, workers: int | None = None, scheduler=None, retries: int = DEFAULT_RETRIES
):
    """An executor from what a caller gives: ``None`` or ``"local"`` (process pool),
    ``"serial"``, an executor object, a Dask ``Client``, or ``scheduler="tcp://host:port"``."""
    if scheduler is not None:
        return DaskExecutor(scheduler, retries=retries)
    if executor is None or executor == "local":
        return LocalExecutor(workers, retries=retries)
    if executor == "serial":
        return SerialExecutor()
    if type(executor).__name__ == "Client":  # checked first: a Client has a .run too
        return DaskExecutor(executor, retries=retries)
    if hasattr(executor, "run"):
        return executor
    raise ParameterError(
        f"unknown executor {executor!r}; use 'local', 'serial', a dask.distributed Client, "
        "or scheduler='tcp://host:port'"
    )


# --- worker side -------------------------------------------------------------------------
_SHARED: Any = None


def _set_shared(shared) -> None:
    global _SHARED
    _SHARED = shared
    # a worker of ours runs only sweep tasks, where diverging updates (overflow) are expected
    # and recorded in the rows: numpy's warnings about them would only flood the terminal
    warnings.filterwarnings("ignore", category=RuntimeWarning)


def _call_shared(function: Callable, item):
    return function(_SHARED, item)


def _identity(value):
    return value


def _call_with(function: Callable, shared, item):
    return function(shared, item)


@contextlib.contextmanager
def _environment(values: dict[str, str]):
    """Set environment variables for processes started inside the block."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
