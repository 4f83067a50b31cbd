"""Runtime, demo layer: what a demo run takes (``DemoOptions``) and what it gives back
(``DemoResult``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from runtime.demo import user
from runtime.demo.events import AccuracyTable, Validation
from runtime.demo.flows import UpdateOutcome


@dataclass(frozen=True)
class DemoOptions:
    """What to run: ``quick`` is the reduced mode (fewer digits and epochs) used in tests."""

    out: Path = Path("demo-output")
    quick: bool = False
    rebuild_base: bool = False
    optimizer: str = "sgd"
    seed: int = 0
    source: str = "auto"  # digits: "auto", "mnist" or "sklearn" (runtime.tools.datasets)
    style: user.UserStyle = field(default_factory=user.UserStyle)

    @property
    def sizes(self) -> user.SplitSizes:
        return user.QUICK_SIZES if self.quick else user.SplitSizes()

    @property
    def base_epochs(self) -> int:
        return 2 if self.quick else 5

    @property
    def head_epochs(self) -> int:
        return 20 if self.quick else 30


@dataclass
class DemoResult:
    """Everything the demo measured and wrote."""

    options: DemoOptions
    source: str
    split_sizes: dict[str, int]
    base_trained_now: bool
    base_outcome: UpdateOutcome | None
    head: UpdateOutcome | None = None
    knn: UpdateOutcome | None = None
    table: AccuracyTable | None = None
    validations: list[Validation] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0


DEFAULT_OPTIONS = DemoOptions()
