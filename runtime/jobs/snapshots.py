"""Runtime, jobs layer: the training state of a job at an iteration end, and its form inside a
checkpoint.

A :class:`Snapshot` is everything needed to continue training bit for bit from an epoch
boundary: the trainable parameters and optimizer state (``NumbaBackend.state_arrays``), the
loop state (epoch counter, current shuffle order and ``minstd_rand`` engine state), the
stopping criteria's states, plus the Core ML-layout weights used to write a model from it.
A job takes one at every iteration end (in memory), writes some as checkpoints, and on a
cancel writes the last one, so a cancel loses at most the running epoch.

Checkpoint encoding (``runtime.jobs.checkpoints``' ``state.npz`` and ``meta.json`` ``loop``):
arrays keep the backend's names (``param:<layer>/<name>``, ``opt:...``) and add
``coreml:<layer>/<field>``; an early-stopping job also stores its best snapshot under the
prefix ``best/``, with that snapshot's iteration, metrics and loop state in ``loop["best"]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from runtime.jobs.checkpoints import Checkpoint, CheckpointError
from runtime.training.loop import LoopState
from runtime.training.shuffle import ShuffleOrder

BEST = "best/"
WEIGHTS = "coreml:"


@dataclass
class Snapshot:
    iteration: int
    metrics: dict[str, float]
    arrays: dict[str, np.ndarray]  # trainable parameters and optimizer state
    weights: dict[str, dict[str, np.ndarray]]  # {layer: {"weights", "bias"}}, Core ML layout
    loop: dict[str, Any]  # epoch, order, last_loss, criteria, first_loss

    @classmethod
    def take(
        cls, backend, state: LoopState, metrics: dict, criteria: dict, first_loss=None
    ) -> Snapshot:
        """Copy the current training state (arrays are copied: later steps cannot alter it).
        ``first_loss``: the run's first epoch loss, which ``lossGrowth`` divides by; kept so a
        resumed run reports the same growth as the uninterrupted one."""
        return cls(
            iteration=state.epoch,
            metrics={str(k): float(v) for k, v in metrics.items()},
            arrays={k: np.array(v) for k, v in backend.state_arrays().items()},
            weights={
                layer: {k: np.array(v) for k, v in arrays.items()}
                for layer, arrays in backend.weights().items()
            },
            loop={
                "epoch": state.epoch,
                "order": state.order.state(),
                "last_loss": state.last_loss,
                "criteria": criteria,
                "first_loss": first_loss,
            },
        )

    def restore(self, backend) -> LoopState:
        """Install the snapshot into ``backend``; returns the loop state to continue from."""
        backend.restore_arrays(self.arrays)
        return LoopState(
            int(self.loop["epoch"]),
            ShuffleOrder.from_state(self.loop["order"]),
            self.loop.get("last_loss"),
        )

    def encode(self, prefix: str = "") -> dict[str, np.ndarray]:
        arrays = {prefix + k: v for k, v in self.arrays.items()}
        for layer, fields in self.weights.items():
            for field, value in fields.items():
                arrays[f"{prefix}{WEIGHTS}{layer}/{field}"] = value
        return arrays

    @classmethod
    def decode(
        cls,
        arrays: dict[str, np.ndarray],
        iteration: int,
        metrics: dict,
        loop: dict,
        prefix: str = "",
    ) -> Snapshot:
        state: dict[str, Any] = {}
        weights: dict[str, Any] = {}
        for name, value in arrays.items():
            if not name.startswith(prefix) or (not prefix and name.startswith(BEST)):
                continue
            name = name[len(prefix) :]
            if name.startswith(WEIGHTS):
                layer, _, field = name[len(WEIGHTS) :].rpartition("/")
                weights.setdefault(layer, {})[field] = value
            else:
                state[name] = value
        return cls(iteration, dict(metrics), state, weights, loop)


def checkpoint_payload(snapshot: Snapshot, best: Snapshot | None):
    """``(arrays, loop)`` for ``runtime.jobs.checkpoints.write_checkpoint``."""
    arrays = snapshot.encode()
    loop = dict(snapshot.loop)
    if best is not None and best.iteration != snapshot.iteration:
        arrays.update(best.encode(BEST))
        loop["best"] = {"iteration": best.iteration, "metrics": best.metrics, "loop": best.loop}
    elif best is not None:
        loop["best"] = {"iteration": best.iteration}  # this very snapshot
    return arrays, loop


def from_checkpoint(checkpoint: Checkpoint) -> tuple[Snapshot, Snapshot | None]:
    """The snapshot stored in ``checkpoint`` and its best snapshot (early stopping), if any.

    Raises :class:`CheckpointError` naming the checkpoint when its files are damaged.
    """
    arrays = checkpoint.load_arrays()
    loop = dict(checkpoint.loop)
    if "order" not in loop or "epoch" not in loop:
        raise CheckpointError(
            f"checkpoint at iteration {checkpoint.iteration} ({checkpoint.url}) has no loop "
            "state; it was not written by a training job"
        )
    best_meta = loop.pop("best", None)
    snapshot = Snapshot.decode(arrays, checkpoint.iteration, checkpoint.metrics, loop)
    if not snapshot.weights:
        raise CheckpointError(
            f"checkpoint at iteration {checkpoint.iteration} ({checkpoint.url}) holds no "
            "weights; remove it or restore an earlier checkpoint"
        )
    best = None
    if best_meta is not None:
        if best_meta["iteration"] == checkpoint.iteration:
            best = snapshot
        else:
            best = Snapshot.decode(
                arrays,
                int(best_meta["iteration"]),
                best_meta["metrics"],
                best_meta["loop"],
                prefix=BEST,
            )
    return snapshot, best
