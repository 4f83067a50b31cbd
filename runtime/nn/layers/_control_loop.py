"""Runtime, neural-network layer: running a compiled ``loop`` layer (``runtime.nn.layers.loop``):
the iterations over a batch, together while its examples agree, one example at a time from
where they part.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._control_nested import (
    BreakLoop,
    ContinueLoop,
    Diverged,
    example_rows,
    run_steps,
    stack_examples,
    truth,
)


@dataclass(frozen=True)
class LoopAttrs:
    condition: tuple | None  # the condition network's steps
    body: tuple
    condition_var: str | None
    limit: int | None  # maxLoopIterations when it bounds the loop
    counted_by_input: bool  # the first input is the iteration count
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    folds: dict  # blob -> rows per example, for every input and output
    fresh: tuple  # (blob, rows, row shape) of blobs only the body makes


def iterate(attrs: LoopAttrs, blobs: dict, batch: int, limits, done: int) -> None:
    """Iterations ``done``, ``done + 1``, ... on ``blobs`` while every example agrees."""
    while True:
        if attrs.condition is not None:
            run_steps(attrs.condition, blobs, batch)
        go = (
            truth(blobs[attrs.condition_var], batch)
            if attrs.condition_var
            else np.ones(batch, bool)
        )
        if limits is not None:
            go &= done < limits
        if not go.any():
            return
        if not go.all():
            return _one_at_a_time(attrs, blobs, batch, limits, done)
        start = dict(blobs)
        try:
            run_steps(attrs.body, blobs, batch)
        except BreakLoop:
            return
        except ContinueLoop:
            pass
        except Diverged:  # a branch parts the examples around a break or continue
            blobs.clear()
            blobs.update(start)
            return _one_at_a_time(attrs, blobs, batch, limits, done)
        done += 1


def _one_at_a_time(attrs: LoopAttrs, blobs: dict, batch: int, limits, done: int) -> None:
    results = []
    for index in range(batch):
        one = example_rows(blobs, attrs.folds, index)
        iterate(attrs, one, 1, None if limits is None else limits[index : index + 1], done)
        results.append(one)
    blobs.update(stack_examples(results, attrs.outputs))
