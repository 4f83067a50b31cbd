"""Sweep executors: the same rows on every executor, and a killed sweep that resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import updatable
from runtime.sweeps import run_sweep
from runtime.sweeps.executors import LocalExecutor, SerialExecutor, make_executor
from runtime.sweeps.store import RESULTS, read_rows
from tests import builders
from tests.optional import require
from tests.test_sweep_run import blobs, deterministic

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # diverging on purpose

USERS = "3x2classes:4shots:4test:seed=5"
OPTIONS = dict(values={"learningRate": [0.05, 50.0]}, params=["miniBatchSize"])


@pytest.fixture(scope="module")
def serial_rows():
    spec = builders.sweep_classifier(lr_range=(0.0, 100.0))
    return run_sweep(spec, USERS, blobs(), executor="serial", **OPTIONS)


def test_the_process_pool_gives_the_same_rows_as_a_serial_loop(serial_rows):
    spec = builders.sweep_classifier(lr_range=(0.0, 100.0))
    pooled = run_sweep(spec, USERS, blobs(), workers=2, **OPTIONS)
    assert deterministic(pooled) == deterministic(serial_rows)
    assert any(row["diverged"] for row in pooled)  # divergence is reproduced too
    workers = {row["worker"] for row in pooled[1:]}  # the first task runs in this process
    assert len(workers) == 2 and f":{os.getpid()}" not in "".join(workers)


def test_a_dask_cluster_gives_the_same_rows_as_a_serial_loop(serial_rows):
    distributed = require("distributed")
    spec = builders.sweep_classifier(lr_range=(0.0, 100.0))
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        with distributed.Client(cluster) as client:
            rows = run_sweep(spec, USERS, blobs(), executor=client, **OPTIONS)
            by_address = run_sweep(
                spec,
                USERS,
                blobs(),
                scheduler=cluster.scheduler_address,
                values={"learningRate": [0.05]},
                params=[],
            )
    assert deterministic(rows) == deterministic(serial_rows)
    # through a scheduler address, the default batch size (4) at the one learning rate
    same = [
        r for r in serial_rows if r["combination"] == {"learningRate": 0.05, "miniBatchSize": 4}
    ]
    assert [_metrics(r) for r in by_address] == [_metrics(r) for r in same]


def _metrics(row):
    return {k: v for k, v in deterministic([row])[0].items() if k not in ("key", "combination")}


def test_executors_are_chosen_by_name_or_object():
    assert isinstance(make_executor("serial"), SerialExecutor)
    pool = make_executor(None, workers=3)
    assert isinstance(pool, LocalExecutor) and pool.workers == 3 and pool.blas_threads >= 1
    with pytest.raises(updatable.ParameterError, match="unknown executor 'gpu'"):
        make_executor("gpu")


# --- a killed sweep resumes ------------------------------------------------------------------
def test_a_killed_sweep_keeps_its_results_and_a_rerun_skips_them(tmp_path):
    # long updates (60 epochs), so that the sweep is still running when it is killed
    spec = builders.sweep_classifier(lr_range=(0.0, 1.0), epochs=60, epoch_set=(60,))
    updatable.save(spec, tmp_path / "m.mlmodel")
    x, y = blobs()
    np.savez(tmp_path / "d.npz", x=x, y=y)
    out = tmp_path / "out"
    args = [
        str(tmp_path / "m.mlmodel"),
        "--users",
        "2x2classes:4shots:4test",
        "--data",
        str(tmp_path / "d.npz"),
        "--params",
        "learningRate,miniBatchSize",
        "--lr-grid",
        "2",
        "--out",
        str(out),
        "--serial",
    ]
    process = subprocess.Popen(
        [sys.executable, "-m", "updatable.cli", "sweep", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while len(read_rows(out / RESULTS)) < 3:
            assert process.poll() is None, "the sweep ended before it could be killed"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    finished = read_rows(out / RESULTS)
    total = 3 * 3 * 2  # learning rates 0, 0.05 (default), 1; three batch sizes; two users
    assert 3 <= len(finished) < total
    seen = []
    table = run_sweep(
        tmp_path / "m.mlmodel",
        "2x2classes:4shots:4test",
        tmp_path / "d.npz",
        params=["learningRate", "miniBatchSize"],
        lr_grid=2,
        out=out,
        executor="serial",
        progress=lambda d, t, row: seen.append(row["key"]),
    )
    assert table.reused == len(finished) and len(seen) == table.ran == total - len(finished)
    assert not set(seen) & set(finished)
