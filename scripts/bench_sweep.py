"""Sweep benchmark: simulated user-updates per second, serial loop vs local pool vs Dask.

The workload is the demo's personalisable digit classifier (``runtime.demo``: conv 8 -> conv
16 -> dense 64 -> dense 10, its last two layers updatable with SGD) swept over a few learning
rates for simulated users drawn from the MNIST digits (``--users``, default
``64x3classes:5shots:10test``): every user-update is a real ``UpdateTask`` plus the scoring of
the updated model on the user's held-out digits. Each configuration runs in a fresh process
(``--one``), so that BLAS thread settings and warm caches do not leak between them:

* ``serial``: one process, the updates one after another, BLAS with its default threads;
* ``serial-1thread``: the same with ``OPENBLAS_NUM_THREADS=1`` (the per-worker setting);
* ``local``: the local process pool, one worker per core (``LocalExecutor``);
* ``dask``: a ``distributed.LocalCluster`` of one single-threaded worker process per core,
  started inside the timed process (its start-up is reported apart).

Reported per configuration: the wall time of ``run_sweep`` (which includes starting the pool),
the user-updates per second over that wall time, and the steady rate between the
``--warmup``-th and the last finished update (pool start-up excluded). Every configuration's
rows are checked to be identical (``MEASURED_FIELDS`` aside).

Usage: ``python scripts/bench_sweep.py [--users 64x3classes:5shots:10test] [--skip dask]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
import warnings

CONFIGS = ("serial", "serial-1thread", "local", "dask")
LEARNING_RATES = (0.01, 0.05, 0.2)


def workload(epochs: int):
    """The demo's model with ``epochs`` fixed (the demo defaults to 30)."""
    from runtime.demo.base import build_base
    from runtime.demo.surgery import personalizable_classifier

    return personalizable_classifier(build_base(seed=0), ("7", "8", "9"), epochs=epochs)


def run_one(config: str, users: str, epochs: int, warmup: int) -> dict:
    """Time one configuration in this process; returns its measurements as a dict."""
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    from runtime.sweeps import run_sweep
    from runtime.sweeps.examples import load_examples
    from runtime.sweeps.runner import MEASURED_FIELDS

    spec, data = workload(epochs), load_examples("mnist")
    options = dict(values={"learningRate": list(LEARNING_RATES)}, params=[])
    stamps: list[float] = []
    extra = {}
    if config == "dask":
        import distributed

        started = time.perf_counter()
        cluster = distributed.LocalCluster(
            n_workers=os.cpu_count(), threads_per_worker=1, processes=True,
            dashboard_address=None, env={"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
        )  # fmt: skip
        client = distributed.Client(cluster)
        extra["cluster_start_seconds"] = time.perf_counter() - started
        options["executor"] = client
    else:
        options["executor"] = "local" if config == "local" else "serial"
    started = time.perf_counter()
    table = run_sweep(spec, users, data, progress=lambda d, t, r: stamps.append(
        time.perf_counter()), **options)  # fmt: skip
    wall = time.perf_counter() - started
    if config == "dask":
        client.close()
        cluster.close()
    rows = [{k: v for k, v in row.items() if k not in MEASURED_FIELDS} for row in table]
    digest = hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()[:12]
    n = len(table)
    steady = (n - warmup) / (stamps[-1] - stamps[warmup - 1]) if n > warmup else float("nan")
    median_update = sorted(row["seconds"] for row in table)[n // 2]
    return {"config": config, "updates": n, "wall_seconds": wall, "rate_wall": n / wall,
            "rate_steady": steady, "median_update_seconds": median_update,
            "rows_digest": digest, **extra}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", default="64x3classes:5shots:10test:seed=0")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument(
        "--warmup", type=int, default=6, help="updates left out of the steady rate (pool start-up)"
    )
    parser.add_argument("--skip", nargs="*", default=[], choices=CONFIGS)
    parser.add_argument("--one", choices=CONFIGS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one, args.users, args.epochs, args.warmup)))
        return 0
    results = []
    for config in (c for c in CONFIGS if c not in args.skip):
        env = dict(os.environ)
        if config == "serial-1thread":
            env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        command = [sys.executable, __file__, "--one", config, "--users", args.users,
                   "--epochs", str(args.epochs), "--warmup", str(args.warmup)]  # fmt: skip
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"{config}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
            return 1
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        result = results[-1]
        print(f"{config:15s} {result['updates']} updates in {result['wall_seconds']:6.1f} s: "
              f"{result['rate_wall']:5.2f}/s wall, {result['rate_steady']:5.2f}/s steady, "
              f"median update {result['median_update_seconds'] * 1e3:5.0f} ms"
              + (f", cluster start {result['cluster_start_seconds']:.1f} s"
                 if "cluster_start_seconds" in result else ""), flush=True)  # fmt: skip
    by_config = {r["config"]: r for r in results}
    digests = {r["rows_digest"] for r in results}
    print(f"rows identical across configurations: {len(digests) == 1}")
    serial = max((by_config[c] for c in ("serial", "serial-1thread") if c in by_config),
                 key=lambda r: r["rate_steady"], default=None)  # fmt: skip
    for config in ("local", "dask"):
        if serial and config in by_config:
            r = by_config[config]
            print(
                f"{config} vs best serial ({serial['config']}): "
                f"{r['rate_steady'] / serial['rate_steady']:.2f}x steady, "
                f"{r['rate_wall'] / serial['rate_wall']:.2f}x wall"
            )
    if "local" in by_config and "dask" in by_config:
        local, dask = by_config["local"], by_config["dask"]
        print(
            f"dask overhead vs local pool: {local['rate_steady'] / dask['rate_steady']:.2f}x "
            f"steady, {dask['wall_seconds'] - local['wall_seconds']:+.1f} s wall "
            f"(plus {dask['cluster_start_seconds']:.1f} s cluster start)"
        )
    return 0 if len(digests) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
