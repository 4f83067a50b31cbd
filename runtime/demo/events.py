"""Runtime, demo layer: what the demo reports while it runs, as plain data.

The library never prints: :func:`runtime.demo.run_demo` hands each of these values to an
``emit`` callback, and the ``updatable demo`` command renders them (rich panels and tables on a
terminal, plain lines otherwise). Tests collect them to check the story step by step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Step:
    """A new chapter of the story: ``number`` of ``total``, a title and what it does."""

    number: int
    total: int
    title: str
    detail: str = ""


@dataclass(frozen=True)
class Note:
    """A line of information inside the current step."""

    text: str


@dataclass(frozen=True)
class TrainingStarted:
    """An update begins: ``flow`` names it, ``epochs`` and ``batches`` (per epoch) size it."""

    flow: str
    epochs: int
    batches: int
    examples: int
    hyperparameters: dict = field(default_factory=dict)


@dataclass(frozen=True)
class MiniBatchEnd:
    """Core ML's ``miniBatchEnd`` event of ``flow``: ``batch`` restarts at 0 every epoch."""

    flow: str
    epoch: int
    batch: int
    loss: float


@dataclass(frozen=True)
class EpochEnd:
    """Core ML's ``epochEnd`` event of ``flow`` (``loss`` is the last mini-batch's loss, as
    Core ML reports it), with the epoch's mean mini-batch loss and, when the flow measures
    it, the accuracy on validation data."""

    flow: str
    epoch: int
    epochs: int
    loss: float
    mean_loss: float
    validation_accuracy: float | None = None


@dataclass(frozen=True)
class TrainingFinished:
    flow: str
    seconds: float
    final_loss: float | None


@dataclass(frozen=True)
class Validation:
    """The result of ``updatable.validate`` on a model the demo wrote."""

    model: str
    errors: tuple[str, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class AccuracyTable:
    """Accuracy per class (rows) for each model (columns), on the same held-out examples.

    ``columns`` maps a model's name to ``{class label: accuracy}``; ``counts`` is the number
    of held-out examples per class; ``new_classes`` are the classes the user added.
    """

    title: str
    classes: tuple[str, ...]
    columns: dict[str, dict[str, float]]
    counts: dict[str, int]
    new_classes: tuple[str, ...]
    overall: dict[str, float]


@dataclass(frozen=True)
class Finished:
    """The demo is done: the files it wrote and how long it took."""

    out: Path
    files: dict[str, Path]
    seconds: float
