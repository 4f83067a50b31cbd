"""Fuzz the runtime with mutated model files: every mutant that Core ML's rules accept must
run (forward, and one training step when updatable) or fail with a project exception and a
one-line message; never a raw IndexError / ValueError / MemoryError, a numpy warning, a hang,
or a cancel that is not honoured within a second.

The mutants come from ``tests/fuzz`` (bases, mutators, per-layer cases, oracle); mutant ``i``
of seed ``s`` is reproducible on its own. The test suite runs 300 of one seed
(``tests/test_fuzz_models.py``); this script runs as many as asked.

    python scripts/fuzz_models.py                           # 2000 mutants, seed 0
    python scripts/fuzz_models.py --count 20000 --seed 7
    python scripts/fuzz_models.py --count 500 --bases classifier knn_samples --show refused
    python scripts/fuzz_models.py --replay 7:1234           # one mutant, with its edits

Prints one line per mutant that broke the promise as it happens, then the outcomes by type
and the time taken. Exit code 1 when any mutant broke the promise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fuzz import bases, run_fuzz  # noqa: E402
from tests.fuzz.driver import make_mutant  # noqa: E402
from tests.fuzz.oracle import timed  # noqa: E402


def _replay(text: str) -> int:
    seed, index = (int(part) for part in text.split(":"))
    mutant = make_mutant(seed, index)
    outcome, seconds = timed(mutant.spec, seed=index)
    print(f"mutant {index} of seed {seed}: base '{mutant.base}'")
    for edit in mutant.edits:
        print(f"  {edit}")
    print(
        f"{outcome.status} at {outcome.stage} in {seconds:.2f} s: {outcome.error}: "
        f"{outcome.message}"
    )
    return 0 if outcome.kept_promise else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000, help="mutants to run (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the mutants (default 0)")
    parser.add_argument(
        "--bases",
        nargs="+",
        choices=sorted(bases.BASES),
        metavar="BASE",
        help=f"mutate only these bases (default all: {', '.join(bases.BASES)})",
    )
    parser.add_argument(
        "--show",
        choices=("broken", "refused", "all"),
        default="broken",
        help="which mutants to print as they run (default: broken)",
    )
    parser.add_argument("--replay", metavar="SEED:INDEX", help="run one mutant and describe it")
    args = parser.parse_args(argv)
    if args.replay:
        return _replay(args.replay)

    def show(report, result):
        status = result.outcome.status
        if (
            args.show == "all"
            or not result.outcome.kept_promise
            or (args.show == "refused" and status == "refused")
        ):
            print(report.describe(result), flush=True)

    report = run_fuzz(args.count, args.seed, base_names=args.bases, on_result=show)
    print(report.summary())
    if report.broken:
        print(
            f"{len(report.broken)} mutants broke the promise "
            f"(replay one with --replay {args.seed}:INDEX)"
        )
    return 1 if report.broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
