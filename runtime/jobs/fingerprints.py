"""Runtime, jobs layer: what identifies a session's model and data, and the checks on resume.

``session.json`` records the model's digest and, for each data set, its size and digests of
the targets and inputs of a few examples spread over it; resuming with another model or other
data is refused with a message that says what differs.
"""

from __future__ import annotations

import hashlib

import numpy as np

from runtime.jobs.feature_keys import content_keys
from updatable.errors import SessionMismatchError

FINGERPRINT_EXAMPLES = 8  # examples whose digests identify a data set


def model_digest(spec) -> str:
    """SHA-256 of the model's deterministic serialisation."""
    return hashlib.sha256(spec.SerializeToString(deterministic=True)).hexdigest()


def data_fingerprint(source) -> dict:
    """Size of a data set and digests of the targets and inputs of a few of its examples."""
    count = source.count
    indices = sorted(
        {int(i) for i in np.linspace(0, count - 1, min(FINGERPRINT_EXAMPLES, count)).round()}
    )
    batch = source.fetch(indices) if indices else None
    if batch is None:
        return {"count": count, "indices": [], "targets": "", "inputs": ""}
    target = np.ascontiguousarray(batch.target)
    return {
        "count": count,
        "indices": indices,
        "targets": hashlib.sha256(target.dtype.str.encode() + target.tobytes()).hexdigest(),
        "inputs": hashlib.sha256(b"".join(content_keys(batch.features, len(indices)))).hexdigest(),
    }


def check_data(recorded: dict, source, what: str, mode: str) -> None:
    if source.count != recorded["count"]:
        raise SessionMismatchError(
            f"the {what} has {source.count} examples; the session trained on "
            f"{recorded['count']}; resume with the same data or start a new session"
        )
    if mode == "count":
        return
    now = data_fingerprint(source)
    if now["targets"] != recorded["targets"]:
        raise SessionMismatchError(
            f"the {what} differs from the session's: the targets of examples "
            f"{recorded['indices']} changed; resume with the same data or start a new session"
        )
    if mode == "content" and now["inputs"] != recorded["inputs"]:
        raise SessionMismatchError(
            f"the {what} differs from the session's: the inputs of examples "
            f"{recorded['indices']} changed; if the provider augments on the fly, resume "
            "with verify_data='labels'"
        )
