"""Command line: ``updatable sweep MODEL``: train every allowed hyperparameter combination on
simulated users."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from updatable.cli._common import (
    EXIT_INVALID,
    EXIT_OK,
    add_out_option,
    print_json,
    refuse_overwriting_inputs,
    split_list,
    verb_parser,
)

EXAMPLES = """
  # 20 users, each with 3 digit classes, 5 training + 10 held-out examples per class
  updatable sweep MNISTDigitClassifier.mlmodel --users 20x3classes:5shots:10test:seed=0 \\
      --data mnist --lr-grid 5 -o mnist-sweep

  # only the learning rate and the batch size; explicit momentum values; write the fix
  updatable sweep Model.mlmodel --users 8x2classes --data digits.npz \\
      --params learningRate,miniBatchSize --values momentum=0,0.9 --apply Tighter.mlmodel

  # on a Dask cluster (pip install 'coreml-updatable[dask]')
  updatable sweep Model.mlmodel --users 50x3classes --data mnist \\
      --scheduler tcp://10.0.0.5:8786

users spec: ':'-separated settings, each <number><unit> or key=value:
  20x3classes   20 users, 3 classes each      20users   20 users, no class structure
  5shots        training examples per class   10test    held-out examples per class
  seed=0        the draw's seed               (shots and test are totals without classes)
data: mnist | sklearn | digits | FILE.npz (arrays x, y); append :scale=1/255 to scale x.
grid: a set gives every element; a double range N log-spaced points with both ends (a range
  from 0 gives 0 then decades up to the end); the model's default is always included.
  # in CI: exit 1 when an allowed combination is flagged
  updatable sweep Model.mlmodel --users 8x2classes --data digits.npz --fail-on-flag --json

results: OUT/results.jsonl grows as tasks finish; re-running the same command skips them.
flags (the report's last column; each combination is judged over all its users):
  diverged          at least one user's update ended in a NaN or infinite loss, or raised the
                    training loss on its own examples by more than --divergence-tolerance
  failed            at least one user's update failed for another reason
  underperforming   median held-out accuracy more than --accuracy-slack below the best
                    combination's (models without accuracy: median loss 25% above the best)
  dominated         informational: another clean combination is at least as good for the
                    median and the worst user, costs no more work (epochs x batches x batch
                    size) and is strictly better in one of them; not a problem
  ok                none of the above
A flagged combination is a finding, not an error: the sweep exits 0 (--fail-on-flag: 1).
"""


def add_parser(subparsers: Any) -> None:
    """Register the ``sweep`` verb."""
    parser = verb_parser(
        subparsers,
        "sweep",
        "train every allowed hyperparameter combination on simulated users",
        "Enumerate the hyperparameter values the model allows an app to choose (its ranges "
        "and sets), run Core ML's update task for every combination on every simulated user, "
        "score each update on the user's held-out examples, and report per combination the "
        "distribution over users, divergences, time and memory, with a heat map and a "
        "recommended tighter constraint set (--apply writes it into a copy of the model).",
        EXAMPLES,
        exit_codes={
            0: "the sweep ran (flagged combinations are findings, listed in the report), or "
            "--dry-run",
            1: "with --fail-on-flag: at least one combination is diverged, failed or "
            "underperforming; or the model cannot be swept (not updatable, invalid)",
            130: "interrupted with Ctrl-C: finished updates are kept in OUT/results.jsonl; "
            "the same command continues",
        },
    )
    parser.add_argument("model", metavar="MODEL", help="the updatable .mlmodel")
    parser.add_argument(
        "--users",
        required=True,
        metavar="SPEC",
        help="simulated users, e.g. 20x3classes:5shots:10test:seed=0",
    )
    parser.add_argument(
        "--data",
        required=True,
        metavar="SOURCE",
        help="mnist, sklearn, digits or an .npz with x and y",
    )
    _add_grid_options(parser.add_argument_group("grid"))
    _add_execution_options(parser.add_argument_group("execution"))
    _add_judging_options(parser.add_argument_group("judging"))
    parser.add_argument(
        "--apply",
        metavar="OUT.mlmodel",
        help="write a copy of MODEL with the recommended constraints",
    )
    parser.add_argument(
        "--fail-on-flag",
        action="store_true",
        help="exit 1 when a combination is diverged, failed or underperforming (for CI)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the summary as JSON (docs/cli-json.md)"
    )
    parser.add_argument("--plain", action="store_true", help="plain text output, no colours")
    parser.set_defaults(run=run)


def _add_grid_options(grid: argparse._ArgumentGroup) -> None:
    grid.add_argument(
        "--lr-grid",
        type=int,
        default=5,
        metavar="N",
        help="points across the learningRate range (default 5)",
    )
    grid.add_argument(
        "--grid",
        type=int,
        default=3,
        metavar="N",
        help="points across other double ranges: momentum, betas, eps (default 3)",
    )
    grid.add_argument(
        "--int-grid",
        type=int,
        default=5,
        metavar="N",
        help="most points across an integer range, e.g. numberOfNeighbors (default 5)",
    )
    grid.add_argument(
        "--params",
        type=split_list,
        metavar="A,B,..",
        help="sweep only these parameters; the others keep their defaults",
    )
    grid.add_argument(
        "--values",
        action="append",
        default=[],
        metavar="NAME=V1,V2",
        help="explicit values for a parameter (repeatable); needed for a "
        "parameter the model leaves unbounded",
    )


def _add_execution_options(run_group: argparse._ArgumentGroup) -> None:
    add_out_option(
        run_group,
        "output directory of the reports (default: MODEL's name + '-sweep')",
        metavar="DIR",
    )
    where = run_group.add_mutually_exclusive_group()
    where.add_argument(
        "--workers", type=int, metavar="N", help="local worker processes (default: one per core)"
    )
    where.add_argument("--serial", action="store_true", help="run in this process")
    where.add_argument(
        "--scheduler", metavar="ADDRESS", help="Dask scheduler, e.g. tcp://host:8786"
    )
    run_group.add_argument(
        "--retries",
        type=int,
        default=2,
        metavar="N",
        help="re-runs of a task whose worker died (default 2)",
    )
    run_group.add_argument(
        "--no-memory",
        action="store_true",
        help="skip the memory measurement (one extra update per combination)",
    )
    run_group.add_argument(
        "--dry-run", action="store_true", help="print the space and the task count, run nothing"
    )


def _add_judging_options(judge: argparse._ArgumentGroup) -> None:
    judge.add_argument(
        "--accuracy-slack",
        type=float,
        default=0.10,
        metavar="F",
        help="underperforming: median accuracy below the best minus F (default 0.10)",
    )
    judge.add_argument(
        "--divergence-tolerance",
        type=float,
        default=0.01,
        metavar="F",
        help="diverged: training loss up by more than F (relative; default 0.01)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the sweep, print the findings, optionally write the tightened model."""
    import warnings
    from pathlib import Path

    # diverging updates overflow on purpose; the rows record it
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    if args.apply:
        refuse_overwriting_inputs("sweep", args.apply, {"MODEL": args.model})
    values = _values(args.values)
    if args.dry_run:
        return _dry_run(args, values)
    out = Path(args.out) if args.out else Path(f"{Path(args.model).stem}-sweep")
    reporter = _Progress()
    try:
        table = _sweep(args, values, out, reporter)
    except KeyboardInterrupt:
        reporter.close()
        print(
            f"updatable sweep: interrupted after {reporter.done} of {reporter.total} user "
            f"updates; finished ones are kept in {out / 'results.jsonl'}; run the same "
            "command again to continue",
            file=sys.stderr,
        )
        return 130
    reporter.close()
    if args.apply:
        table.write_recommended(args.apply)
    if args.json:
        from runtime.sweeps.report import summary_document

        print_json({**summary_document(table), "applied": args.apply})
    else:
        _print_findings(table, args)
        if args.apply:
            print(f"wrote {args.apply} with: {table.recommendation.summary}")
    flagged = any(s.bad for s in table.summaries)
    return EXIT_INVALID if flagged and args.fail_on_flag else EXIT_OK


def _grid(args: argparse.Namespace, values: Any) -> dict[str, Any]:
    """The grid options, as ``enumerate_space`` and ``run_sweep`` take them."""
    return {
        "values": values,
        "params": args.params,
        "lr_grid": args.lr_grid,
        "grid": args.grid,
        "int_grid": args.int_grid,
    }


def _dry_run(args: argparse.Namespace, values: Any) -> int:
    """Print the space and the number of user updates; run nothing."""
    from runtime.sweeps import UsersSpec, enumerate_space
    from updatable.spec import load

    space = enumerate_space(load(args.model), **_grid(args, values))
    users = UsersSpec.parse(args.users)
    for line in _space_lines(space):
        print(line)
    print(
        f"{len(space)} combinations x {users.users} users = {len(space) * users.users} user updates"
    )
    return EXIT_OK


def _sweep(args: argparse.Namespace, values: Any, out: Any, reporter: Any) -> Any:
    from runtime.sweeps import Thresholds, run_sweep

    return run_sweep(
        args.model,
        args.users,
        args.data,
        **_grid(args, values),
        out=out,
        executor="serial" if args.serial else None,
        workers=args.workers,
        scheduler=args.scheduler,
        retries=args.retries,
        measure_memory=not args.no_memory,
        thresholds=Thresholds(args.divergence_tolerance, args.accuracy_slack),
        progress=reporter,
    )


def _values(items: list[str]) -> dict[str, list[float]]:
    values = {}
    for item in items:
        name, sep, text = item.partition("=")
        try:
            numbers = [float(v) for v in split_list(text)]
        except ValueError:
            numbers = []
        if not sep or not numbers:
            from updatable.errors import ParameterError

            raise ParameterError(f"--values expects NAME=V1,V2,... with numbers; got {item!r}")
        values[name.strip()] = [
            int(v) if v.is_integer() and name.strip() in _INTEGER_NAMES else v for v in numbers
        ]
    return values


_INTEGER_NAMES = {"miniBatchSize", "epochs", "numberOfNeighbors"}


def _space_lines(space: Any) -> list[str]:
    lines = []
    for d in space.dimensions:
        swept = ", ".join(f"{v:g}" for v in d.values) if d.swept else "held at default"
        lines.append(f"{d.name}: default {d.default:g}, allowed {d.allowed_text()}: {swept}")
    return lines


# the findings table's columns a narrow terminal leaves out first (after the parameters)
_DROPPABLE = (
    "peak MB", "before (median)", "time (s)", "train loss", "failed", "min", "max", "users",
    "diverged",
)  # fmt: skip


def _print_findings(table: Any, args: argparse.Namespace) -> None:
    """The findings: what was swept, the per-combination table (rich on a terminal, fitted
    to its width), what the flags mean, and the recommendation."""
    from runtime.sweeps.report import summary_rows
    from runtime.sweeps.summary import flag_meanings
    from updatable.cli._progress import Output

    output = Output(plain=True if args.plain else None)
    output.line(
        f"{table.details['model']}: {len(table)} user updates, "
        f"{len(table.summaries)} combinations ({table.ran} run, {table.reused} reused) "
        f"in {table.elapsed:.1f} s"
    )
    for line in _space_lines(table.space):
        output.line(f"  {line}")
    header, rows = summary_rows(table)
    droppable = [header.index(name) for name in _DROPPABLE if name in header]
    output.table("", header, rows, droppable=droppable)
    flagged = [s for s in table.summaries if s.bad]
    output.line(
        f"{len(flagged)} of {len(table.summaries)} combinations flagged "
        "(diverged, failed or underperforming)",
        "bold" if flagged else None,
    )
    output.line("flags:")
    for flag, meaning in flag_meanings(table.thresholds).items():
        output.line(f"  {flag}: {meaning}")
    output.line(f"recommended: {table.recommendation.summary}")
    for line in table.recommendation.lines:
        output.line(f"  {line}")
    if table.out is not None:
        output.line(f"reports: {table.out}/report.md, report.html, summary.json, heatmap.png")


class _Progress:
    """A progress bar on a terminal (rich), else a line every 10% on stderr."""

    def __init__(self) -> None:
        self.done, self.total, self._printed = 0, 0, -1
        # the rich progress bar (False: rich is missing), and its task
        self._bar: Any = None
        self._task: Any = None

    def __call__(self, done: int, total: int, row: dict[str, Any]) -> None:
        del row  # only the counts are shown
        self.done, self.total = done, total
        if self._bar is None and sys.stderr.isatty():
            try:
                from rich.progress import Progress

                self._bar = Progress(transient=True)
                self._bar.start()
                self._task = self._bar.add_task("user updates", total=total)
            except ImportError:
                self._bar = False
        if self._bar:
            self._bar.update(self._task, completed=done)
            return
        decile = done * 10 // max(total, 1)
        if decile != self._printed:
            self._printed = decile
            print(f"[{done}/{total}] user updates finished", file=sys.stderr)

    def close(self) -> None:
        if self._bar:
            self._bar.stop()
