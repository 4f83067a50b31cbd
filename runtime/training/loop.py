"""Runtime, training layer: the epoch / mini-batch loop of a neural-network update, shared by
``UpdateTask`` and jobs.

Batching and ordering follow Core ML (docs/update-task-semantics.md §5, §6):

* ``ceil(N / B)`` mini-batches per epoch; batch ``b`` holds positions ``b*B .. b*B+B-1`` of the
  epoch order.
* Default engine: the last batch is always full. Positions past the end wrap around to the
  start of the (shuffled) order, i.e. position p reads ``order[p mod N]``; Core ML stages
  ``ceil(N/B)*B`` rows per epoch and the filling is undocumented, so wrap-around is our
  pinned reading. The epoch's reported loss is the *last* mini-batch's loss.
* ML Compute engine (``partial_last_batch``): the last batch holds only the remaining
  examples and the epoch loss is the unweighted mean of the batch losses.
* Shuffling: the order is shuffled when the loop state is created and, when
  ``reshuffle_each_epoch``, again in place after each epoch end.

The loop is written against two small protocols: a *source* that turns example indices into a
feature batch and targets, and a *backend* whose ``step`` runs forward, loss, backward and the
optimizer update for one mini-batch and returns the loss.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from runtime.training import interrupt
from runtime.training.shuffle import ShuffleOrder
from updatable.errors import UpdatableError


class TrainingError(UpdatableError, RuntimeError):
    """Training cannot continue (bad example, non-finite loss, backend failure)."""


class StopTraining(Exception):
    """Raised by hooks to end the loop at a mini-batch boundary (cancel)."""


@dataclass(frozen=True)
class LoopSettings:
    epochs: int
    batch_size: int
    shuffle: bool = True
    seed: int | None = None
    partial_last_batch: bool = False
    mean_epoch_loss: bool = False
    reshuffle_each_epoch: bool = True


@dataclass
class LoopState:
    """Where the loop is: everything needed to continue the exact same sequence."""

    epoch: int
    order: ShuffleOrder
    last_loss: float | None = None

    @classmethod
    def start(cls, count: int, settings: LoopSettings) -> LoopState:
        return cls(0, ShuffleOrder(count, settings.seed, settings.shuffle))


class Batch(Protocol):
    # read-only: a cache's KeyedBatch computes its features when asked
    @property
    def features(self) -> dict[str, Any]: ...
    @property
    def target(self) -> np.ndarray: ...
    @property
    def indices(self) -> list[int]: ...


class Source(Protocol):
    count: int

    def fetch(self, indices: list[int]) -> Batch: ...


class Backend(Protocol):
    def step(self, batch: Batch, learning_rate: float) -> float: ...


class Hooks:
    """Callbacks of the loop; the defaults do nothing. ``learning_rate`` is read before
    every step, so a change made in a callback applies from the next mini-batch."""

    def __init__(self, learning_rate: float):
        self.current_learning_rate = learning_rate

    def learning_rate(self) -> float:
        return self.current_learning_rate

    def check_stop(self) -> None:
        """Raise :class:`StopTraining` to end the loop here."""

    def mini_batch_end(self, batch_index: int, loss: float) -> None:
        pass

    def epoch_end(self, epoch_index: int, loss: float) -> None:
        pass


def batch_count(count: int, batch_size: int) -> int:
    return math.ceil(count / batch_size) if count else 0


def batch_indices(order: list[int], batch_index: int, batch_size: int, partial: bool) -> list[int]:
    """Example indices of mini-batch ``batch_index`` of an epoch with this ``order``."""
    n = len(order)
    start = batch_index * batch_size
    stop = start + batch_size
    if partial:
        return order[start : min(stop, n)]
    return [order[position % n] for position in range(start, stop)]


def run_epoch(
    backend: Backend,
    source: Source,
    settings: LoopSettings,
    hooks: Hooks,
    state: LoopState,
    check_weights: Callable[[int], None] | None = None,
) -> float:
    """Train one epoch from ``state``; returns the epoch loss and advances ``state``.

    ``hooks.check_stop`` runs at every mini-batch boundary and, through
    :mod:`runtime.training.interrupt`, inside a mini-batch's work too. ``check_weights(epoch)``
    (``runtime.training.divergence``) runs after the last mini-batch, before ``epoch_end``."""
    batches = batch_count(source.count, settings.batch_size)
    losses = []
    with interrupt.polling(hooks.check_stop):
        for b in range(batches):
            hooks.check_stop()
            indices = batch_indices(
                state.order.order, b, settings.batch_size, settings.partial_last_batch
            )
            batch = source.fetch(indices)
            # a diverging model overflows: the loss check below reports that in one line,
            # numpy's warnings would repeat it on stderr
            with np.errstate(all="ignore"):
                loss = backend.step(batch, hooks.learning_rate())
            if not math.isfinite(loss):
                raise TrainingError(
                    f"the loss became {loss} at epoch {state.epoch}, mini-batch {b} (examples "
                    f"{_some(indices)}); lower the learning rate or check these examples"
                )
            losses.append(loss)
            state.last_loss = loss
            hooks.mini_batch_end(b, loss)
    epoch_loss = float(np.mean(losses)) if settings.mean_epoch_loss else losses[-1]
    if check_weights is not None:
        check_weights(state.epoch)
    hooks.epoch_end(state.epoch, epoch_loss)
    state.epoch += 1
    if settings.reshuffle_each_epoch:
        state.order.reshuffle()
    return epoch_loss


def _some(indices: list[int], shown: int = 20) -> str:
    """The distinct example indices of a batch, the first ``shown`` of them."""
    distinct = sorted(set(indices))
    more = f" and {len(distinct) - shown} more" if len(distinct) > shown else ""
    return f"{distinct[:shown]}{more}"


def loop_settings(values: dict, events_epoch_end: bool, ml_compute: bool) -> LoopSettings:
    """Core ML's loop behaviour for these hyperparameter values (see the module docstring)."""
    return LoopSettings(
        epochs=int(values["epochs"]),
        batch_size=int(values["miniBatchSize"]),
        shuffle=bool(values["shuffle"]),
        seed=values.get("seed"),
        partial_last_batch=ml_compute,
        mean_epoch_loss=ml_compute,
        # the default engine reshuffles inside its epoch callback, which it installs only
        # when the app subscribed to epochEnd (see the module docstring)
        reshuffle_each_epoch=ml_compute or events_epoch_end,
    )
