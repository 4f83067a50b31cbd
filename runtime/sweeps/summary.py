"""Runtime, sweeps layer: per-combination statistics over users, and the flags that mark a bad
combination.

For each combination, over its users: held-out accuracy and loss (median, quartiles, min,
max), the training loss after the update, the update's time and peak memory, and counts of
users whose update **diverged** (a NaN or infinite loss, or a training loss after the update
more than ``divergence_tolerance`` above the one before: the update made the model worse on
the very examples it trained on) or **failed** for another reason. Flags:

* ``diverged`` / ``failed``: at least one user diverged / failed; every allowed combination
  must work for every user, so one is enough;
* ``underperforming``: the median held-out accuracy is more than ``accuracy_slack`` below the
  best combination's (models without accuracy: the median held-out loss more than
  ``loss_slack`` times above the best);
* ``dominated`` (informational): another clean combination is at least as good for the median
  and the worst user and costs no more work (examples processed per update: epochs x
  batches x batch size, since Core ML pads the last batch), and is strictly better in one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from runtime.sweeps.space import SweepSpace, combination_key

BAD_FLAGS = ("diverged", "failed", "underperforming")
# how the reports mark each flag in a table cell
FLAG_MARKS = {"diverged": "DIV", "failed": "FAIL", "underperforming": "LOW", "dominated": "dom"}


@dataclass(frozen=True)
class Thresholds:
    """How the flags are decided (see the module docstring)."""

    divergence_tolerance: float = 0.01
    accuracy_slack: float = 0.10
    loss_slack: float = 0.25


def flag_meanings(thresholds: Thresholds) -> dict[str, str]:
    """What each flag means, with ``thresholds``' values: the reports' legend (the module
    docstring gives the reasons)."""
    return {
        "diverged": "at least one user's update ended in a NaN or infinite loss, or raised "
        "the training loss on its own examples by more than "
        f"{thresholds.divergence_tolerance:.0%}",
        "failed": "at least one user's update failed for another reason (the row's error)",
        "underperforming": "median held-out accuracy more than "
        f"{thresholds.accuracy_slack:.0%} below the best combination's (without accuracy: "
        f"median held-out loss more than {thresholds.loss_slack:.0%} above the best)",
        "dominated": "(informational, not a problem) another clean combination is at least "
        "as good for the median and the worst user, costs no more work, and is strictly "
        "better in one of them",
    }


@dataclass(frozen=True)
class Stats:
    """Distribution of one metric over users (finite values only)."""

    median: float
    q1: float
    q3: float
    min: float
    max: float
    count: int

    @classmethod
    def of(cls, values: Sequence[float | None]) -> Stats | None:
        finite = [v for v in values if v is not None and math.isfinite(v)]
        if not finite:
            return None
        q1, median, q3 = np.percentile(finite, [25, 50, 75])
        return cls(float(median), float(q1), float(q3), min(finite), max(finite), len(finite))


@dataclass
class CombinationSummary:
    """One combination over its users."""

    key: str
    combination: dict
    users: int
    test_accuracy: Stats | None
    test_accuracy_before: Stats | None
    test_loss: Stats | None
    train_loss: Stats | None
    seconds: Stats | None
    peak_memory_mb: float | None
    diverged: int
    failed: int
    cost: int
    errors: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)

    @property
    def bad(self) -> bool:
        return any(flag in BAD_FLAGS for flag in self.flags)


def row_diverged(row: dict, tolerance: float) -> bool:
    """A NaN/inf loss, or a training loss that rose by more than ``tolerance`` (relative)."""
    if row.get("nonfinite"):
        return True
    before, after = row.get("train_loss_before"), row.get("train_loss")
    return before is not None and after is not None and after > before * (1 + tolerance)


def summarize(
    rows: Sequence[dict], space: SweepSpace, thresholds: Thresholds = Thresholds()
) -> list[CombinationSummary]:
    """One summary per combination of ``space`` that has rows, in the space's order."""
    by_key: dict[str, list[dict]] = {}
    for row in rows:
        by_key.setdefault(combination_key(row["combination"]), []).append(row)
    summaries = []
    for combination in space.combinations():
        key = combination_key(combination)
        group = by_key.get(key)
        if not group:
            continue
        diverged = sum(row_diverged(r, thresholds.divergence_tolerance) for r in group)
        failed = [r for r in group if r["status"] == "failed" and not r.get("nonfinite")]
        memory = [r["peak_memory_mb"] for r in group if r.get("peak_memory_mb") is not None]
        summaries.append(
            CombinationSummary(
                key=key,
                combination=combination,
                users=len(group),
                test_accuracy=Stats.of([r.get("test_accuracy") for r in group]),
                test_accuracy_before=Stats.of([r.get("test_accuracy_before") for r in group]),
                test_loss=Stats.of([r.get("test_loss") for r in group]),
                train_loss=Stats.of([r.get("train_loss") for r in group]),
                seconds=Stats.of([r.get("seconds") for r in group]),
                peak_memory_mb=max(memory) if memory else None,
                diverged=diverged,
                failed=len(failed),
                cost=_cost(combination, space, group),
                errors=sorted({r["error"] for r in failed})[:3],
            )
        )
    _flag(summaries, thresholds)
    return summaries


def _cost(combination: dict, space: SweepSpace, group: list[dict]) -> int:
    """Examples processed by one update (deterministic, unlike the measured time)."""
    n = max(r["n_train"] for r in group)
    if space.head == "kNearestNeighborsClassifier":
        return n
    values = {d.name: d.default for d in space.dimensions} | combination
    batch, epochs = int(values["miniBatchSize"]), int(values["epochs"])
    return epochs * math.ceil(n / batch) * batch


def _quality(summary: CombinationSummary) -> tuple[float, float] | None:
    """(median, worst user), larger is better: accuracy, or minus the loss."""
    if summary.test_accuracy is not None:
        return summary.test_accuracy.median, summary.test_accuracy.min
    if summary.test_loss is not None:
        return -summary.test_loss.median, -summary.test_loss.max
    return None


def _flag(summaries: list[CombinationSummary], thresholds: Thresholds) -> None:
    for summary in summaries:
        if summary.diverged:
            summary.flags.append("diverged")
        if summary.failed:
            summary.flags.append("failed")
    quality = {id(s): q for s in summaries if not s.flags and (q := _quality(s)) is not None}
    clean = [s for s in summaries if id(s) in quality]
    if not clean:
        return
    accuracy = clean[0].test_accuracy is not None
    best = max(quality[id(s)][0] for s in clean)
    for summary in clean:
        median = quality[id(summary)][0]
        if accuracy:
            under = median < best - thresholds.accuracy_slack
        else:  # qualities are minus losses
            under = -median > -best * (1 + thresholds.loss_slack)
        if under:
            summary.flags.append("underperforming")
    for summary in (s for s in clean if not s.flags):
        mine = (*quality[id(summary)], -summary.cost)
        for other in clean:
            theirs = (*quality[id(other)], -other.cost)
            if (
                other is not summary
                and all(t >= m for t, m in zip(theirs, mine, strict=True))
                and theirs != mine
            ):
                summary.flags.append("dominated")
                break
