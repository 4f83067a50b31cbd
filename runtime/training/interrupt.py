"""Runtime, training layer: cancellation inside a mini-batch's work.

The loop checks for a cancel at every mini-batch boundary; a mini-batch of a million examples
(or a large network) can take minutes, so the long parts of a step also *poll*: reading the
examples (every :data:`POLL_EVERY` examples), the frozen forward pass (between chunks) and the
trainable slice (between layers). :func:`polling` installs the loop's own check (which raises
``StopTraining``) for the thread that trains; :func:`poll` runs it, and does nothing on other
threads or outside training, so the polled code stays usable on its own.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

POLL_EVERY = 64  # examples read between two polls

_local = threading.local()


@contextlib.contextmanager
def polling(check: Callable[[], None]):
    """Within the block, :func:`poll` on this thread calls ``check``."""
    previous = getattr(_local, "check", None)
    _local.check = check
    try:
        yield
    finally:
        _local.check = previous


def poll() -> None:
    """Run the current thread's check (raises ``StopTraining`` after a cancel)."""
    check = getattr(_local, "check", None)
    if check is not None:
        check()
