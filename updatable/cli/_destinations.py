"""Command line: where trained models go: checked by a real write before training, and never
lost when the final write fails anyway.

A directory that exists can still refuse files (permissions, a read-only mount, a full
disk): checking that it exists let a 30-epoch run end in "cannot write" with nothing saved.
:func:`check_writable` creates and deletes a probe file beside the destination before any
work starts. :func:`save_or_rescue` writes the model; if that write fails after all, the
model is written to a rescue path (the session directory, else the temporary directory) and
the error names both.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from updatable import proto
from updatable.errors import CheckpointFileError, ModelFileError


def _probe(directory: Path) -> OSError | None:
    """``None`` if a file can be created (and removed) in ``directory``, else the error."""
    try:
        fd, name = tempfile.mkstemp(prefix=".updatable-probe-", dir=directory)
    except OSError as exc:
        return exc
    os.close(fd)
    try:
        os.unlink(name)
    except OSError:
        pass
    return None


def check_writable(path: Path, option: str) -> None:
    """Refuse, before any work, a destination file that cannot be written.

    Raises:
        ModelFileError: naming ``option`` (``--out``), the path and the reason.
    """
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise ModelFileError(f"{option} {path}: cannot write: directory {directory} does not exist")
    if path.is_dir():
        raise ModelFileError(f"{option} {path}: cannot write: it is a directory")
    error = _probe(directory)
    if error is not None:
        raise ModelFileError(
            f"{option} {path}: cannot write into {directory} ({error.strerror or error}); "
            f"choose a writable place for {option}"
        )


def check_session_directory(directory: Path) -> None:
    """Refuse, before any work, a session directory that cannot be created or written."""
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise CheckpointFileError(f"--session {directory}: {existing} is a file, not a directory")
    error = _probe(existing) if existing.exists() else None
    if error is not None:
        what = "write into" if existing == directory else f"create {directory} in"
        raise CheckpointFileError(
            f"--session {directory}: cannot {what} {existing} ({error.strerror or error}); "
            "choose a writable --session directory"
        )


def rescue_path(out: Path, session: Path | None) -> Path:
    """Where a model goes when ``out`` cannot be written: the session directory, else the
    temporary directory, under a name that says what it is and when it was made."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = f"{out.stem}-rescued-{stamp}.mlmodel"
    if session is not None and _probe(session) is None:
        return session / name
    return Path(tempfile.gettempdir()) / name


def save_or_rescue(spec: proto.Model, out: Path, session: Path | None = None) -> None:
    """Save ``spec`` to ``out``; if that fails, to :func:`rescue_path`, and raise naming both.

    Raises:
        ModelFileError: ``out`` could not be written; the message says where the model is.
    """
    from updatable import spec as spec_io

    try:
        spec_io.save(spec, out)
        return
    except ModelFileError as exc:
        failure = exc
    rescue = rescue_path(out, session)
    try:
        spec_io.save(spec, rescue)
    except ModelFileError as exc:
        raise ModelFileError(f"{failure}; saving it to {rescue} failed too ({exc})") from None
    raise ModelFileError(f"{failure}; the trained model was saved to {rescue} instead")
