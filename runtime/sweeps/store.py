"""Runtime, sweeps layer: A sweep's output directory: its manifest and the append-only results file.

``sweep.json`` (written atomically) names the sweep: the fingerprint of the model, the data,
the users spec and the runner, plus readable details. ``results.jsonl`` gets one JSON row per
finished task, appended and flushed to disk as each task finishes, so an interrupted sweep
(Ctrl-C, a killed process, a lost machine) keeps every finished task. A re-run with the same
fingerprint reads the file and skips the tasks whose keys it holds; the grid may change
between runs (a finer ``--lr-grid``), and only the new combinations run. A different
fingerprint in a directory that holds results is refused rather than mixed in (one without
results is taken over). A line cut short by a crash is ignored, and the next append starts on
a fresh line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from updatable.errors import ModelFileError, SweepError
from updatable.spec import write_atomic

MANIFEST = "sweep.json"
RESULTS = "results.jsonl"


class ResultStore:
    """Rows of one sweep in ``directory`` (``None``: in memory only, nothing is written)."""

    def __init__(self, directory: str | os.PathLike | None, fingerprint: str, details: dict):
        self.directory = None if directory is None else Path(directory)
        self.fingerprint = fingerprint
        self.details = details
        self.rows: dict[str, dict] = {}

    @property
    def results_path(self) -> Path | None:
        return None if self.directory is None else self.directory / RESULTS

    def open(self) -> ResultStore:
        """Create the directory and manifest, or check them and load the finished rows.

        Raises:
            SweepError: the directory holds the results of another sweep.
            ModelFileError: the directory cannot be created or written.
        """
        if self.directory is None:
            return self
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ModelFileError(
                f"{self.directory}: cannot create the sweep directory ({exc.strerror})"
            ) from None
        manifest = self.directory / MANIFEST
        rows = read_rows(self.directory / RESULTS)
        if manifest.exists() and rows:
            found = _read_json(manifest).get("fingerprint")
            if found != self.fingerprint:
                raise SweepError(
                    f"{self.directory} holds the results of another sweep (different model, "
                    f"data, users or runner: fingerprint {found} here, {self.fingerprint} now); "
                    "choose another output directory, or delete this one to start over"
                )
        else:  # a new directory, or one whose sweep stopped before any result
            document = {"fingerprint": self.fingerprint, **self.details}
            write_atomic(json.dumps(document, indent=2, default=str).encode(), manifest)
        self.rows = rows
        return self

    def add(self, row: dict) -> None:
        """Keep ``row`` and append it to the results file, durably."""
        self.rows[row["key"]] = row
        if self.directory is None:
            return
        line = json.dumps(row, separators=(",", ":"), allow_nan=False)
        path = self.directory / RESULTS
        try:
            with open(path, "ab") as handle:
                if handle.tell() > 0 and not _ends_with_newline(path):
                    handle.write(b"\n")  # the previous run died mid-line
                handle.write(line.encode() + b"\n")
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise ModelFileError(f"{path}: cannot append a result ({exc.strerror})") from None


def read_rows(path: Path) -> dict[str, dict]:
    """Finished rows by key; an unreadable (cut) line is skipped, a later row of the same key
    wins."""
    rows: dict[str, dict] = {}
    if not path.exists():
        return rows
    with open(path, "rb") as handle:
        for line in handle:
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and "key" in row:
                rows[row["key"]] = row
    return rows


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def _read_json(path: Path) -> dict:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SweepError(
            f"{path}: unreadable sweep manifest ({exc}); delete the directory to start over"
        ) from None
    return document if isinstance(document, dict) else {}


def write_json(document, path: Path) -> None:
    """Write a JSON document atomically (non-finite numbers are refused, not written)."""
    write_atomic(json.dumps(document, indent=2, allow_nan=False, default=str).encode(), path)
