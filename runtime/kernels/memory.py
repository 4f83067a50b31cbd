"""Runtime, kernels layer: the memory bound: how many bytes one piece of work may allocate.

Sizes that come from a model file or a hyperparameter (a mini-batch, a network's blobs for
one example, an image input, a kNN's samples) are checked against this bound *before* the
work starts, so that a model asking for 15 GB fails at once with a message naming the size,
instead of failing minutes later with an empty ``MemoryError`` (or being killed by the
operating system).

The bound is, in order of precedence:

1. the value given to :func:`limited` (a context, for one piece of code) or :func:`set_limit`;
2. the environment variable ``UPDATABLE_MEMORY_LIMIT``: bytes, or a number with a unit
   (``512MB``, ``4GB``, ``1.5GiB``), or ``none`` for no bound;
3. the memory the operating system reports available now (Linux: ``MemAvailable`` of
   ``/proc/meminfo``; elsewhere the physical memory, from ``sysconf``);
4. no bound, when none of those is known.

Estimates are upper estimates of the arrays a piece of work holds at once; the interpreter,
numba and the model itself come on top, so the bound is compared with the estimate alone.
"""

from __future__ import annotations

import contextlib
import os
import re

from updatable.errors import ParameterError, ResourceLimitError

ENVIRONMENT_VARIABLE = "UPDATABLE_MEMORY_LIMIT"
# Work below this many bytes may skip the check when it repeats per example (an image);
# no machine this toolkit runs on has less memory available than this.
CHECK_ABOVE = 64 * 10**6
_UNITS = {
    "": 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
}
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*$")
_NO_LIMIT = object()
_override: dict = {"bytes": None}  # bytes, _NO_LIMIT, or None (no override)


def parse_size(text: str) -> int | None:
    """``"4GB"`` -> 4_000_000_000; ``"none"`` -> ``None`` (no bound)."""
    if text.strip().lower() in ("none", "unlimited"):
        return None
    match = _SIZE.match(text)
    unit = match.group(2).upper() if match else ""
    if match is None or unit not in _UNITS:
        raise ParameterError(
            f"{ENVIRONMENT_VARIABLE}={text!r} is not a size; expected bytes or a number with "
            f"a unit ({', '.join(u for u in _UNITS if u)}), e.g. 4GB, or 'none'"
        )
    return int(float(match.group(1)) * _UNITS[unit])


def available_bytes() -> int | None:
    """The memory the operating system reports available now, or ``None`` if unknown."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def limit() -> tuple[int | None, str]:
    """``(bytes or None, where the bound comes from)``; see the module docstring."""
    override = _override["bytes"]
    if override is _NO_LIMIT:
        return None, "no memory bound"
    if override is not None:
        return override, "the memory bound set for this work"
    text = os.environ.get(ENVIRONMENT_VARIABLE)
    if text:
        return parse_size(text), f"{ENVIRONMENT_VARIABLE}={text}"
    available = available_bytes()
    if available is None:
        return None, "no memory bound"
    return available, "the memory available now"


def set_limit(bytes_: int | None, *, unbounded: bool = False) -> None:
    """Set the bound for the whole process: ``bytes_``, no bound with ``unbounded=True``, or
    (``None``) back to the environment's default."""
    _override["bytes"] = _NO_LIMIT if unbounded else (None if bytes_ is None else int(bytes_))


@contextlib.contextmanager
def limited(bytes_: int | None):
    """Within the block the bound is ``bytes_`` (``None``: no bound), for the whole process:
    training threads started inside the block see it too."""
    previous = _override["bytes"]
    set_limit(bytes_, unbounded=bytes_ is None)
    try:
        yield
    finally:
        _override["bytes"] = previous


def format_bytes(count: float) -> str:
    """``1536`` -> ``"1.5 kB"``; powers of 1000, one decimal."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(count) < 1000 or unit == "PB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} PB"


def check(
    what: str,
    needed: int,
    remedy: str,
    *,
    parameter: str | None = None,
    per_unit: int | None = None,
) -> None:
    """Raise :class:`ResourceLimitError` if ``needed`` bytes exceed the bound.

    ``what`` names the work ("a mini-batch of 1000000000 examples"), ``remedy`` says what to
    do; with ``parameter`` and ``per_unit`` (bytes per unit of that parameter) the error
    carries the parameter's largest value within the bound, which ``remedy`` may show as
    ``{largest}``.
    """
    bound, source = limit()
    if bound is None or needed <= bound:
        return
    largest = None if not per_unit else max(0, bound // per_unit)
    raise ResourceLimitError(
        f"{what} needs about {format_bytes(needed)} of memory, more than the bound of "
        f"{format_bytes(bound)} ({source}); {remedy.format(largest=largest)}",
        parameter,
        largest,
    )
