"""Runtime, jobs layer: checkpoints in a training-session directory (Create ML's ``MLCheckpoint``).

Layout of a session directory::

    session.json                 what the session trains (model, hyperparameters, data size)
    model.mlmodel                the model the session started from
    checkpoints/000010/          one directory per checkpoint, named by iteration
        meta.json                iteration, date, phase, metrics, loop state (shuffle engine)
        state.npz                trainable weights and optimizer state
    features/                    the persisted frozen-feature cache (optional)

A checkpoint is written into a temporary directory inside ``checkpoints/`` and renamed into
place, after its files are flushed to disk: a process killed mid-write leaves only a
``.tmp-*`` directory, which readers ignore, and the previous checkpoints stay intact.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from updatable.errors import CheckpointError, CheckpointFileError


@dataclass(frozen=True)
class Checkpoint:
    """``MLCheckpoint``: ``phase``, ``iteration``, ``date``, ``url`` (its directory) and
    ``metrics``."""

    iteration: int
    date: datetime
    phase: str
    metrics: dict[str, float]
    url: Path
    loop: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def load_arrays(self) -> dict[str, np.ndarray]:
        """The stored arrays; a damaged file raises :class:`CheckpointFileError` naming it."""
        path = self.url / "state.npz"
        try:
            with np.load(path, allow_pickle=False) as archive:
                return {name: archive[name] for name in archive.files}
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
            raise CheckpointFileError(
                f"checkpoint at iteration {self.iteration} is unreadable ({path}: {exc}); "
                "remove it or restore an earlier checkpoint"
            ) from None


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def checkpoint_dir(session_directory: Path) -> Path:
    return Path(session_directory) / "checkpoints"


def write_checkpoint(
    session_directory: Path,
    iteration: int,
    phase: str,
    metrics: dict[str, float],
    arrays: dict[str, np.ndarray],
    loop: dict[str, Any],
) -> Checkpoint:
    """Write a checkpoint atomically and return it."""
    root = checkpoint_dir(session_directory)
    root.mkdir(parents=True, exist_ok=True)
    date = datetime.now(UTC)
    final = root / f"{iteration:06d}"
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        with open(tmp / "state.npz", "wb") as handle:
            # numpy's stubs read **arrays as its allow_pickle flag
            np.savez(handle, **arrays)  # type: ignore[arg-type]
            handle.flush()
            os.fsync(handle.fileno())
        stored = {k: float(v) for k, v in metrics.items()}
        meta = {
            "iteration": iteration,
            "date": date.isoformat(),
            "phase": phase,
            "metrics": stored,
            "loop": loop,
        }
        with open(tmp / "meta.json", "w") as handle:
            json.dump(meta, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        if final.exists():  # re-running an iteration replaces its checkpoint
            shutil.rmtree(final)
        os.replace(tmp, final)
        _fsync_dir(root)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise CheckpointFileError(f"cannot write checkpoint into {root}: {exc}") from None
    return Checkpoint(iteration, date, phase, stored, final, loop)


def read_checkpoint(directory: Path) -> Checkpoint:
    """Read one checkpoint's metadata; a damaged file raises :class:`CheckpointFileError`."""
    path = Path(directory) / "meta.json"
    try:
        meta = json.loads(path.read_text())
        return Checkpoint(
            iteration=int(meta["iteration"]),
            date=datetime.fromisoformat(meta["date"]),
            phase=str(meta["phase"]),
            metrics={k: float(v) for k, v in meta["metrics"].items()},
            url=Path(directory),
            loop=meta.get("loop", {}),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointFileError(f"checkpoint {directory} is unreadable ({exc})") from None


def list_checkpoints(session_directory: Path) -> tuple[list[Checkpoint], list[str]]:
    """All readable checkpoints by iteration, and a message for each damaged one."""
    root = checkpoint_dir(session_directory)
    found: list[Checkpoint] = []
    problems: list[str] = []
    if not root.is_dir():
        return found, problems
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or not entry.is_dir():
            continue  # interrupted writes (.tmp-*) are not checkpoints
        try:
            found.append(read_checkpoint(entry))
        except CheckpointError as exc:
            problems.append(str(exc))
    found.sort(key=lambda c: c.iteration)
    return found, problems


def remove_checkpoint(checkpoint: Checkpoint) -> None:
    shutil.rmtree(checkpoint.url, ignore_errors=True)


def clean_interrupted_writes(session_directory: Path) -> None:
    """Delete temporary directories left by a process killed during a checkpoint write."""
    root = checkpoint_dir(session_directory)
    if root.is_dir():
        for entry in root.iterdir():
            if entry.name.startswith(".tmp-"):
                shutil.rmtree(entry, ignore_errors=True)
