"""Draw mutants from a seed, run each through the oracle, tally the outcomes.

Mutant ``i`` of seed ``s`` is reproducible on its own: its generator is seeded with
``(s, i)``; it takes one of :data:`tests.fuzz.bases.BASES` and applies one to three
mutations drawn by weight from :data:`tests.fuzz.mutators.MUTATORS`.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from tests.fuzz import bases, mutators
from tests.fuzz.oracle import Outcome, timed


@dataclass(frozen=True)
class Mutant:
    index: int
    base: str
    edits: tuple[str, ...]
    spec: object = field(repr=False, compare=False)


@dataclass
class Result:
    mutant: Mutant
    outcome: Outcome
    seconds: float


@dataclass
class FuzzReport:
    seed: int
    results: list[Result] = field(default_factory=list)
    seconds: float = 0.0

    def counts(self) -> collections.Counter:
        """``status`` (and error type for refusals and crashes) -> number of mutants."""
        counter = collections.Counter()
        for result in self.results:
            outcome = result.outcome
            key = outcome.status if not outcome.error else f"{outcome.status}:{outcome.error}"
            counter[key] += 1
        return counter

    @property
    def broken(self) -> list[Result]:
        """The mutants that broke the promise (crashes, hangs, leaked warnings)."""
        return [r for r in self.results if not r.outcome.kept_promise]

    @property
    def checked(self) -> int:
        """Mutants that passed validation, so the runtime had to answer for them."""
        return sum(1 for r in self.results if r.outcome.status != "invalid")

    def describe(self, result: Result) -> str:
        m, o = result.mutant, result.outcome
        return (
            f"mutant {m.index} (seed {self.seed}) of '{m.base}' [{'; '.join(m.edits)}]: "
            f"{o.status} at {o.stage}: {o.error}: {o.message[:300]}"
        )

    def summary(self) -> str:
        lines = [
            f"{len(self.results)} mutants, seed {self.seed}, {self.seconds:.1f} s; "
            f"{self.checked} passed validation"
        ]
        for key, count in sorted(self.counts().items()):
            lines.append(f"  {count:6d}  {key}")
        slowest = max(self.results, key=lambda r: r.seconds, default=None)
        if slowest is not None:
            lines.append(f"  slowest mutant: {slowest.seconds:.2f} s ({slowest.mutant.base})")
        return "\n".join(lines)


def _draw(rng, table):
    names = list(table)
    weights = np.array([table[n][1] for n in names], dtype=float)
    return names[int(rng.choice(len(names), p=weights / weights.sum()))]


def make_mutant(seed: int, index: int, base_names: Iterable[str] | None = None) -> Mutant:
    """Mutant ``index`` of ``seed`` (see the module docstring)."""
    rng = np.random.default_rng([seed, index])
    names = sorted(base_names or bases.BASES)
    base = names[int(rng.integers(len(names)))]
    spec = bases.fresh(base)
    edits = []
    wanted = int(rng.integers(1, 4))
    for _ in range(20):  # a mutator finding nothing to edit does not count
        if len(edits) == wanted:
            break
        name = _draw(rng, mutators.MUTATORS)
        edit = mutators.MUTATORS[name][0](spec, rng)
        if edit is not None:
            edits.append(f"{name}: {edit}")
    return Mutant(index, base, tuple(edits), spec)


def run_fuzz(count: int, seed: int = 0, *, base_names=None, on_result=None) -> FuzzReport:
    """Run ``count`` mutants of ``seed``; ``on_result(report, result)`` after each."""
    report = FuzzReport(seed)
    start = time.perf_counter()
    for index in range(count):
        mutant = make_mutant(seed, index, base_names)
        outcome, seconds = timed(mutant.spec, seed=index)
        result = Result(mutant, outcome, seconds)
        report.results.append(result)
        if on_result is not None:
            on_result(report, result)
    report.seconds = time.perf_counter() - start
    return report
