"""Runtime, jobs layer: one training run per session directory at a time.

A run that trains into a session directory (``runtime.train`` / ``runtime.resume`` with a
``session_directory``) holds ``session.lock`` there until its job ends. A second run on the
same directory fails at once with :class:`SessionLockedError` naming the holder, instead of
both writing checkpoints and one run's work silently disappearing.

The lock file holds the holder's pid, host name and start time (JSON). Where the operating
system offers ``fcntl.flock`` (Linux, macOS) the file is also *locked*: the kernel releases
that lock when the holder exits, however it exits, so a lock left by a killed process is
never mistaken for a live one. The file a dead process leaves behind is taken over: when it
names this host, with a note (``SessionLock.note``) saying whose lock it was; when it names
another host, whose processes cannot be checked from here, the run is refused and the
message says which file to delete once that run is known to be over. Without ``flock`` the
file is created exclusively and a holder on this host is checked with ``os.kill(pid, 0)``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from updatable.errors import SessionLockedError

try:
    import fcntl
except ImportError:  # Windows: exclusive creation and a pid check instead
    fcntl = None  # type: ignore[assignment]  # the module, or None on Windows

LOCK_FILE = "session.lock"


def _host() -> str:
    return socket.gethostname()


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def _read(path: Path) -> dict:
    try:
        record = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _describe(record: dict) -> str:
    pid, host = record.get("pid", "?"), record.get("host", "?")
    since = f" since {record['started']}" if record.get("started") else ""
    return f"process {pid} on host '{host}'{since}"


@dataclass
class SessionLock:
    """A held lock on a session directory; :meth:`release` (or the job's end) frees it.

    ``note`` says whose stale lock was taken over, or is ``None``.
    """

    path: Path
    fd: int | None
    note: str | None = None
    created_directory: bool = False  # acquire made the directory (removed if left empty)

    def release(self) -> None:
        """Delete the lock file and unlock; safe to call twice."""
        if self.fd is None:
            return
        try:
            if _read(self.path).get("pid") == os.getpid():
                self.path.unlink(missing_ok=True)  # removed while still locked: see acquire
        except OSError:
            pass
        finally:
            os.close(self.fd)
            self.fd = None


def acquire(directory: str | os.PathLike) -> SessionLock:
    """Take the lock of session ``directory`` (created if needed) or raise at once.

    Raises:
        SessionLockedError: another live run holds it, or a lock left on another host.
        CheckpointFileError: the directory cannot be created or written (naming it).
    """
    directory = Path(directory)
    path = directory / LOCK_FILE
    created = not directory.exists()
    for _ in range(10):  # retried only when a holder released the file under us
        fd = _open(path)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                record = _read(path)
                os.close(fd)
                raise SessionLockedError(_in_use(directory, record)) from None
            # the holder we waited on may have deleted the file: lock the file at the path
            if not _same_file(fd, path):
                os.close(fd)
                continue
        record = _read(path)
        try:
            note = _stale_note(directory, record)
        except SessionLockedError:
            os.close(fd)
            raise
        _write(fd, path)
        return SessionLock(path, fd, note, created)
    raise SessionLockedError(f"{directory} changed hands repeatedly while locking; try again")


def holder(directory: str | os.PathLike) -> str | None:
    """Why ``directory`` is in use by a live run (the message :func:`acquire` would raise),
    or ``None``. Changes nothing: a stale lock is left for :func:`acquire` to take over."""
    path = Path(directory) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                return _in_use(Path(directory), _read(path))
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        record = _read(path)
        if record.get("host") == _host() and _alive(int(record.get("pid", 0) or 0)):
            return _in_use(Path(directory), record)
        return None
    finally:
        os.close(fd)


def _open(path: Path) -> int:
    from updatable.errors import CheckpointFileError

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if fcntl is not None:
            return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        return _open_exclusive(path)
    except SessionLockedError:
        raise
    except OSError as exc:
        raise CheckpointFileError(
            f"cannot use {path.parent} as a session directory: {exc.strerror or exc} "
            f"({path.name} cannot be created); choose a writable directory"
        ) from None


def _open_exclusive(path: Path) -> int:
    """Without flock: create the file exclusively, removing a dead holder's file once."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        record = _read(path)
        if record.get("host") == _host() and not _alive(int(record.get("pid", 0) or 0)):
            path.unlink(missing_ok=True)
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        raise SessionLockedError(_in_use(path.parent, record)) from None


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except OSError:
        return False


def _stale_note(directory: Path, record: dict) -> str | None:
    """What a run that got the lock finds in the file: nothing, or a dead holder's record."""
    if not record or (record.get("pid") == os.getpid() and record.get("host") == _host()):
        return None
    if record.get("host") != _host():
        raise SessionLockedError(
            f"{directory} is locked by {_describe(record)}, which cannot be checked from "
            f"host '{_host()}'; if that run has ended, delete {directory / LOCK_FILE} and "
            "start again"
        )
    return f"took over the lock of {_describe(record)}, which no longer holds it"


def _in_use(directory: Path, record: dict) -> str:
    holder_text = _describe(record) if record else "another process"
    return (
        f"{directory} is in use by {holder_text}: one run trains a session directory at a "
        "time; wait for it to end (or cancel it), or choose another session directory"
    )


def _write(fd: int, path: Path) -> None:
    record = {
        "pid": os.getpid(),
        "host": _host(),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    data = json.dumps(record).encode()
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, data)
    os.fsync(fd)


@contextlib.contextmanager
def locked_for_start(directory: str | os.PathLike | None):
    """Hold ``directory``'s lock (``None``: no directory, nothing to lock) while a job is set
    up; on an error the lock is released, otherwise the started job owns it."""
    lock = acquire(directory) if directory is not None else None
    try:
        yield lock
    except BaseException:
        if lock is not None:
            lock.release()
            if lock.created_directory:  # refused before anything was written: leave no trace
                with contextlib.suppress(OSError):
                    lock.path.parent.rmdir()
        raise


def clean_if_free(directory: Path, clean) -> None:
    """``clean(directory)`` unless a live run holds the directory (or it cannot be locked):
    a live run's in-flight checkpoint looks just like an interrupted write."""
    try:
        lock = acquire(directory)
    except OSError:  # SessionLockedError, or a directory this process cannot write
        return
    try:
        clean(directory)
    finally:
        lock.release()
