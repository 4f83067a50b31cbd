"""Runtime, sweeps layer: hyperparameter-constraint sweeps: does every value a model allows train
well for every user?

``runtime.sweep(model, users, data, ...)`` enumerates the model's allowed hyperparameter space
(:mod:`~runtime.sweeps.space`), runs Core ML's update task for each (combination, simulated
user) pair (:mod:`~runtime.sweeps.runner`) on a local process pool or a Dask cluster
(:mod:`~runtime.sweeps.executors`), keeps every finished result in an append-only file so a
re-run resumes (:mod:`~runtime.sweeps.store`), and reports per-combination statistics, flags
(:mod:`~runtime.sweeps.summary`, :mod:`~runtime.sweeps.report`) and a tighter constraint set
(:mod:`~runtime.sweeps.recommend`). The command line is ``updatable sweep``.
"""

from __future__ import annotations

from runtime.sweeps.api import SweepTable, run_sweep
from runtime.sweeps.examples import Examples, load_examples
from runtime.sweeps.executors import DaskExecutor, LocalExecutor, SerialExecutor
from runtime.sweeps.space import SweepSpace, enumerate_space
from runtime.sweeps.summary import Thresholds
from runtime.sweeps.users import UsersSpec, draw_users

__all__ = [
    "DaskExecutor",
    "Examples",
    "LocalExecutor",
    "SerialExecutor",
    "SweepSpace",
    "SweepTable",
    "Thresholds",
    "UsersSpec",
    "draw_users",
    "enumerate_space",
    "load_examples",
    "run_sweep",
    "sweep",
]


sweep = run_sweep  # the public name: runtime.sweep(...)
