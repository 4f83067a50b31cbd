"""The local executor when worker processes die: tasks are re-run, then given up on.

The task functions live here, in a module with light imports, because every spawned worker
imports the module of the function it runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runtime.sweeps.executors import LocalExecutor
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


def test_a_task_that_keeps_killing_its_worker_gives_up_after_the_retries(tmp_path):
    executor = LocalExecutor(workers=2, retries=1)
    with pytest.raises(WorkerLostError, match=r"lost their worker process more than 1 time"):
        list(executor.run(always_die, str(tmp_path), [0, 1, 2]))


def test_a_dask_task_whose_worker_dies_is_resubmitted_then_given_up_on(tmp_path):
    distributed = pytest.importorskip("distributed")
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
