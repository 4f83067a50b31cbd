"""The local executor when worker processes die: tasks are re-run, then given up on.

The task functions live here, in a module with light imports, because every spawned worker
imports the module of the function it runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runtime.sweeps.executors import LocalExecutor
from tests.optional import require
from updatable.errors import WorkerLostError


def die_once(marker_dir: str, item: int) -> int:
    """Kill the worker process the first time item 3 runs; otherwise ten times the item."""
    marker = Path(marker_dir) / f"died-{item}"
    if item == 3 and not marker.exists():
        marker.touch()
        os._exit(1)
    return item * 10


def always_die(marker_dir: str, item: int) -> int:
    del marker_dir
    if item == 1:
        os._exit(1)
    return item


def test_a_lost_worker_process_is_replaced_and_its_tasks_rerun(tmp_path):
    executor = LocalExecutor(workers=2, retries=1)
    results = dict(executor.run(die_once, str(tmp_path), list(range(6))))
    assert results == {i: i * 10 for i in range(6)}
    assert (tmp_path / "died-3").exists()


class _PoolThatBreaksAtSubmit:
    """An in-process stand-in for the process pool: runs each task at once, until its submit
    number ``breaks_at`` finds it broken (a worker died between two submits); a broken pool
    stays broken, as a real one does."""

    def __init__(self, shared, breaks_at, log):
        self.shared, self.breaks_at, self.log, self.submits = shared, breaks_at, log, 0

    def submit(self, fn, *args):
        from concurrent.futures import Future
        from concurrent.futures.process import BrokenProcessPool

        self.submits += 1
        if 0 < self.breaks_at <= self.submits:
            raise BrokenProcessPool("a child process terminated abruptly")
        future = Future()
        future.set_result(args[0](self.shared, args[1]))
        self.log.append(args[1])
        return future

    def shutdown(self, wait=True, cancel_futures=False):
        del wait, cancel_futures


@pytest.mark.parametrize("breaks_at", [1, 3])
def test_a_pool_found_broken_at_submit_is_replaced_and_no_item_is_lost(breaks_at, monkeypatch):
    """Whether or not tasks are in flight when ``submit`` finds the pool broken, the item being
    submitted runs later on a new pool, once."""
    pools, ran = [], []

    def new_pool(self, shared):
        pools.append(_PoolThatBreaksAtSubmit(shared, breaks_at if not pools else 0, ran))
        return pools[-1]

    monkeypatch.setattr(LocalExecutor, "_pool", new_pool)
    results = dict(
        LocalExecutor(workers=2, retries=1).run(
            lambda shared, item: item * 10, None, list(range(6))
        )
    )
    assert results == {i: i * 10 for i in range(6)}
    assert sorted(ran) == list(range(6)) and len(pools) == 2


def test_a_task_that_keeps_killing_its_worker_gives_up_after_the_retries(tmp_path):
    executor = LocalExecutor(workers=2, retries=1)
    with pytest.raises(WorkerLostError, match=r"lost their worker process more than 1 time"):
        list(executor.run(always_die, str(tmp_path), [0, 1, 2]))


def test_a_dask_task_whose_worker_dies_is_resubmitted_then_given_up_on(tmp_path):
    distributed = require("distributed")
    import dask

    from runtime.sweeps.executors import DaskExecutor

    # the scheduler gives up on a task at its first lost worker (KilledWorker), so the
    # executor's own resubmission is what keeps the sweep going
    settings = {"distributed.scheduler.allowed-failures": 0}
    with (
        dask.config.set(settings),
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        results = dict(DaskExecutor(client, retries=1).run(die_once, str(tmp_path), [2, 3, 4]))
        assert results == {2: 20, 3: 30, 4: 40} and (tmp_path / "died-3").exists()
        with pytest.raises(WorkerLostError, match=r"killed its Dask workers more than 1 time"):
            list(DaskExecutor(client, retries=1).run(always_die, str(tmp_path), [1]))
