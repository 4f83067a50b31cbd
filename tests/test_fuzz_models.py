"""Mutated model files: every mutant Core ML's rules accept runs, or fails with a project
exception and a one-line message (the harness is :mod:`tests.fuzz`; ``scripts/fuzz_models.py``
runs as many mutants as asked)."""

from __future__ import annotations

from tests.fuzz import run_fuzz
from tests.fuzz.driver import make_mutant

SEED, COUNT = 20240601, 300


def test_every_mutant_that_validates_runs_or_fails_with_a_project_error():
    report = run_fuzz(COUNT, SEED)
    broken = "\n".join(report.describe(result) for result in report.broken)
    assert not report.broken, f"{len(report.broken)} mutants broke the promise:\n{broken}"
    counts = report.counts()
    # the mutants reach the runtime: a good share passes validation, and some of those run
    assert report.checked >= COUNT // 4, report.summary()
    assert counts["ran"] >= 10 and sum(n for k, n in counts.items() if k.startswith("refused"))


def test_a_mutant_is_reproducible_from_its_seed_and_index():
    first, again = make_mutant(SEED, 17), make_mutant(SEED, 17)
    assert first.base == again.base and first.edits == again.edits and first.edits
    assert first.spec.SerializeToString() == again.spec.SerializeToString()
