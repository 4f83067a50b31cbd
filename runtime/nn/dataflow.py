"""Runtime, neural-network layer: who reads and who writes each blob of a list of steps.

The small questions every plan and rewrite of a compiled network asks (``execution``,
``epilogues``, ``graph``), answered from the steps' ``inputs`` and ``outputs`` alone.
"""

from __future__ import annotations


def readers_of(steps) -> dict[str, list[int]]:
    """Blob name -> positions of the steps reading it."""
    readers: dict[str, list[int]] = {}
    for index, step in enumerate(steps):
        for name in step.inputs:
            readers.setdefault(name, []).append(index)
    return readers


def writers_of(steps) -> dict[str, list[int]]:
    """Blob name -> positions of the steps writing it."""
    writers: dict[str, list[int]] = {}
    for index, step in enumerate(steps):
        for name in step.outputs:
            writers.setdefault(name, []).append(index)
    return writers
