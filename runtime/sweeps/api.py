"""Runtime, sweeps layer: ``runtime.sweep(...)``: check every allowed hyperparameter combination on
simulated users.

The steps: read and validate the model; enumerate its allowed space
(:mod:`runtime.sweeps.space`); load the data and draw the users (:mod:`runtime.sweeps.users`);
plan how examples feed the model (:mod:`runtime.sweeps.feed`); open the output directory and
skip tasks already finished there (:mod:`runtime.sweeps.store`); run the first pending task
here, so that data that does not fit the model fails fast with one clear error; run the rest
on the executor (:mod:`runtime.sweeps.executors`); summarise, flag and recommend; write the
reports when there is an output directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.sweeps.examples import Examples, load_examples
from runtime.sweeps.executors import DEFAULT_RETRIES, make_executor
from runtime.sweeps.feed import feed_plan
from runtime.sweeps.recommend import Recommendation, recommend
from runtime.sweeps.report import write_reports
from runtime.sweeps.runner import SweepContext, SweepTask, run_task
from runtime.sweeps.space import SweepSpace, combination_key, enumerate_space
from runtime.sweeps.store import ResultStore
from runtime.sweeps.summary import CombinationSummary, Thresholds, row_diverged, summarize
from runtime.sweeps.users import UsersSpec, draw_users
from updatable import proto
from updatable import spec as spec_io
from updatable.errors import MissingDependencyError, SweepError, UnsupportedModelError

# bump when a row's meaning changes, so old result files are not reused
RUNNER_VERSION = "1"

Progress = Callable[[int, int, dict], None]
DEFAULT_THRESHOLDS = Thresholds()


class SweepTable(list):
    """The rows of a sweep (one dict per user update), with its analysis attached.

    Each row holds ``combination`` (a dict), ``user``, ``status``, the losses and accuracies
    before and after, ``diverged``, ``seconds`` and ``peak_memory_mb`` (see
    :mod:`runtime.sweeps.runner`). Attributes: ``space``, ``summaries`` (per combination),
    ``recommendation``, ``spec`` (the model swept), ``out`` (the output directory or ``None``),
    ``ran`` / ``reused`` (tasks run now / found finished in ``out``), ``elapsed`` (seconds),
    ``thresholds`` (what the flags were judged by).
    """

    space: SweepSpace
    summaries: list[CombinationSummary]
    recommendation: Recommendation
    spec: proto.Model
    details: dict
    out: Path | None
    ran: int
    reused: int
    elapsed: float
    thresholds: Thresholds

    def to_pandas(self):
        """A ``pandas.DataFrame``, one column per swept parameter (needs pandas)."""
        try:
            import pandas
        except ImportError:
            raise MissingDependencyError(
                "to_pandas() needs pandas (`pip install pandas`); the table itself is a list "
                "of row dicts"
            ) from None

        flat = [
            {**row["combination"], **{k: v for k, v in row.items() if k != "combination"}}
            for row in self
        ]
        return pandas.DataFrame(flat)

    def write_recommended(self, path: str | Path) -> proto.Model:
        """Write a copy of the model with the recommended constraints (validated, atomic)."""
        spec = self.recommendation.apply(self.spec)
        spec_io.save(spec, path)
        return spec


def run_sweep(
    model,
    users: str | UsersSpec,
    data: str | Path | Examples | tuple,
    *,
    values: Mapping[str, Sequence[float | int]] | None = None,
    params: Sequence[str] | None = None,
    lr_grid: int = 5,
    grid: int = 3,
    int_grid: int = 5,
    out: str | Path | None = None,
    executor=None,
    workers: int | None = None,
    scheduler=None,
    retries: int = DEFAULT_RETRIES,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    measure_memory: bool = True,
    progress: Progress | None = None,
) -> SweepTable:
    """Run every (allowed combination, simulated user) update and analyse the results.

    Args:
        model: path of an updatable ``.mlmodel`` (neural network, kNN, or pipeline ending in
            one), its ``Model`` protobuf or a coremltools ``MLModel``.
        users: a users spec such as ``"20x3classes:5shots:10test:seed=0"``
            (:class:`UsersSpec`).
        data: ``"mnist"``, ``"sklearn"``, ``"digits"``, an ``.npz`` path with ``x``/``y``,
            an ``(x, y)`` pair or :class:`Examples` (:mod:`runtime.sweeps.examples`).
        values, params, lr_grid, grid, int_grid: the grid (:func:`enumerate_space`).
        out: output directory for the append-only results, the manifest and the reports;
            re-running with the same directory skips finished tasks. ``None``: memory only.
        executor: ``None``/``"local"`` (process pool), ``"serial"``, an executor object or a
            Dask ``Client``; ``workers`` sizes the local pool; ``scheduler`` a Dask address.
        retries: re-runs of a task whose worker died.
        thresholds: divergence tolerance and the slack of the underperforming flag.
        measure_memory: trace the peak allocation of the first user's update of every
            combination (in a separate re-run: tracing slows an update down).
        progress: called as ``progress(done, total, row)`` after every finished task.

    Returns:
        A :class:`SweepTable`.

    Raises:
        ParameterError: a grid setting or explicit value the model does not allow, or a
            swept parameter without allowed values (with advice).
        SweepError: data that does not fit the model, users that cannot be drawn, or an
            output directory of another sweep.
    """
    started = time.perf_counter()
    spec, name = _open_model(model)
    space = enumerate_space(
        spec, values=values, params=params, lr_grid=lr_grid, grid=grid, int_grid=int_grid
    )
    examples = load_examples(data)
    users_spec = users if isinstance(users, UsersSpec) else UsersSpec.parse(users)
    drawn = draw_users(users_spec, examples.y)
    model_bytes = spec.SerializeToString(deterministic=True)
    fingerprint = _fingerprint(model_bytes, examples, users_spec)
    details = {"model": name, "data": examples.name, "users": str(users_spec)}
    store = ResultStore(out, fingerprint, details).open()
    tasks = [
        SweepTask(f"{combination_key(c)}|user={u.index}", tuple(c.items()), u)
        for c in space.combinations()
        for u in drawn
    ]
    context = SweepContext(
        fingerprint,
        model_bytes,
        examples.x,
        examples.y,
        feed_plan(spec, examples),
        measure_memory,
    )
    execution = _Execution(executor, workers, scheduler, retries)
    ran = _run_missing(tasks, store, context, execution, progress)
    rows = [dict(store.rows[t.key]) for t in tasks]
    for row in rows:
        row["diverged"] = row_diverged(row, thresholds.divergence_tolerance)
    table = SweepTable(rows)
    table.space, table.spec, table.details = space, spec, {**details, "fingerprint": fingerprint}
    table.summaries = summarize(rows, space, thresholds)
    table.thresholds = thresholds  # the reports' legend states them
    table.recommendation = recommend(space, table.summaries)
    table.out = store.directory
    table.ran, table.reused = ran, len(tasks) - ran
    table.elapsed = time.perf_counter() - started
    if table.out is not None:
        write_reports(table, table.out)
    return table


@dataclass(frozen=True)
class _Execution:
    """Where the tasks run (see ``make_executor``)."""

    executor: Any
    workers: int | None
    scheduler: Any
    retries: int


def _open_model(model) -> tuple[proto.Model, str]:
    """The model's spec and name, checked: Core ML accepts it and it is updatable."""
    import updatable

    spec, name = _read_model(model)
    updatable.check(spec)
    if not spec.isUpdatable:
        raise UnsupportedModelError(
            f"{name} is not updatable; prepare it with `updatable make-updatable` first"
        )
    return spec, name


def _fingerprint(model_bytes: bytes, examples: Examples, users_spec: UsersSpec) -> str:
    """What a results directory belongs to: the model, the data, the users, the runner."""
    parts = [
        model_bytes,
        examples.identity.encode(),
        str(users_spec).encode(),
        RUNNER_VERSION.encode(),
    ]
    return hashlib.sha256(b"\0".join(parts)).hexdigest()[:16]


def _run_missing(tasks, store, context, execution: _Execution, progress) -> int:
    """Run the tasks ``store`` has no row for (the first one here, to refuse data that does
    not fit before any worker starts); returns how many ran."""
    todo = [t for t in tasks if t.key not in store.rows]
    done = len(tasks) - len(todo)

    def finish(row: dict) -> None:
        nonlocal done
        store.add(row)
        done += 1
        if progress is not None:
            progress(done, len(tasks), row)

    if todo:
        first = run_task(context, todo[0])
        if first["error_kind"] == "data":
            raise SweepError(f"the data does not fit the model: {first['error']}")
        finish(first)
    if len(todo) > 1:
        runner = make_executor(
            execution.executor,
            workers=execution.workers,
            scheduler=execution.scheduler,
            retries=execution.retries,
        )
        # closing(): an interrupt in `progress` still shuts the workers down at once
        with contextlib.closing(runner.run(run_task, context, todo[1:])) as results:
            for _, row in results:
                finish(row)
    return len(todo)


def _read_model(model) -> tuple[proto.Model, str]:
    spec, path = spec_io.open_model(model, "sweep")
    if path is not None:
        return spec, str(path)
    return spec, "<spec>" if isinstance(model, proto.Model) else f"<{type(model).__name__}>"
