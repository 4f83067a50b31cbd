"""Runtime, neural-network layer: forward-only execution of compiled steps over named blobs.

``Network.run`` and the frozen part of a training step (``backprop.frozen_forward``) both run
a :class:`Plan`, computed once per (steps, wanted outputs) and holding everything that does not
depend on the data:

* **frees**: per step, the blobs dropped after it (read, or if never read made, there for the
  last time and not wanted), so peak memory stays near the widest layer;
* **placements**: a blob read only by one channel concat (and not wanted) is written by its
  producer straight into its channel slice of the concat's output buffer (``out=`` views), so
  the concat copies nothing; this needs the concat outputs' per-example shapes;
* **rewrites**: deferred epilogues (``runtime.nn.epilogues``): convolutions that write bare GEMM
  outputs and max poolings that apply their bias and activation.

:func:`execute` runs a plan on one batch; :func:`run` lets ``runtime.kernels.parallel`` split the
batch across threads. Steps are never modified: a rewrite hands a step's kind other attributes and
parameters for this run only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from runtime.kernels import parallel
from runtime.nn import epilogues
from runtime.nn.dataflow import readers_of, writers_of
from runtime.nn.layers.base import Shape, Step
from updatable.errors import ShapeError

Rewrite = Callable[[Step], tuple[Any, dict]]


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    inputs: tuple[str, ...]  # blobs the caller feeds: read before any step makes them
    wanted: tuple[str, ...]
    frees: tuple[tuple[str, ...], ...]  # per step
    placements: Mapping[str, tuple[str, int, int]]  # blob -> (concat output, lo, hi)
    buffer_shapes: Mapping[str, Shape]  # concat output -> per-example shape
    rewrites: Mapping[int, Rewrite]  # step position -> its attrs and params for this plan


def needed_inputs(steps, wanted) -> tuple[str, ...]:
    """Blobs read by ``steps`` (or wanted) before any of them makes them, in first-use order."""
    defined: set[str] = set()
    needed: list[str] = []
    for step in steps:
        needed += [n for n in step.inputs if n not in defined and n not in needed]
        defined.update(step.outputs)
    return tuple(needed + [n for n in wanted if n not in defined and n not in needed])


def free_plan(steps, wanted) -> tuple[tuple[str, ...], ...]:
    """Per step, the blobs to drop after it."""
    # writes count as uses: a blob nobody reads is dropped where it is made, and a blob that a
    # copy layer overwrites lives until the last use of its final value
    last_use: dict[str, int] = {}
    for index, step in enumerate(steps):
        for name in (*step.inputs, *step.outputs):
            last_use[name] = index
    frees: list[list[str]] = [[] for _ in steps]
    for name, index in last_use.items():
        if name not in wanted:
            frees[index].append(name)
    return tuple(tuple(names) for names in frees)


def concat_placements(steps, wanted, inputs) -> dict[str, tuple[str, int, int]]:
    """Blobs written once, read only by a channel concat, neither wanted nor fed: each maps to
    ``(concat output, first channel, end channel)``."""
    readers, writers = readers_of(steps), writers_of(steps)
    placements = {}
    for step in steps:
        if step.kind.oneof != "concat" or len(set(step.inputs)) != len(step.inputs):
            continue
        offsets = step.attrs.offsets
        for position, name in enumerate(step.inputs):
            if (
                len(writers.get(name, ())) == 1
                and len(readers.get(name, ())) == 1
                and name not in wanted
                and name not in inputs
            ):
                placements[name] = (step.outputs[0], offsets[position], offsets[position + 1])
    return placements


def make_plan(steps, wanted, *, shapes=None, defer: bool = True) -> Plan:
    """The plan of ``steps`` producing ``wanted``; without ``shapes`` (blob -> per-example
    shape) concat inputs are not placed in place."""
    steps, wanted = tuple(steps), tuple(wanted)
    inputs = needed_inputs(steps, wanted)
    placements: dict[str, tuple[str, int, int]] = {}
    if shapes is not None:
        placements = {
            name: target
            for name, target in concat_placements(steps, wanted, inputs).items()
            if target[0] in shapes
        }
    targets = {target for target, _, _ in placements.values()}
    return Plan(
        steps=steps,
        inputs=inputs,
        wanted=wanted,
        frees=free_plan(steps, wanted),
        placements=placements,
        buffer_shapes={name: tuple(shapes[name]) for name in targets},
        rewrites=epilogues.rewrites(steps, wanted, inputs) if defer else {},
    )


def _buffer(plan: Plan, name, buffers, batch, dtype):
    """The preallocated slot of ``name`` inside a concat output, or ``None``."""
    if name in buffers:
        return buffers[name]
    placement = plan.placements.get(name)
    if placement is None:
        return None
    target, lo, hi = placement
    outer = _buffer(plan, target, buffers, batch, dtype)
    if outer is None:
        outer = np.empty((batch, *plan.buffer_shapes[target]), dtype)
        buffers[target] = outer
    buffers[name] = outer[..., lo:hi]
    return buffers[name]


def execute(plan: Plan, feeds: dict[str, np.ndarray], *, shapes_seen=None) -> dict:
    """Run ``plan`` on one batch (``feeds`` holds at least ``plan.inputs``); returns the wanted
    blobs as C-contiguous arrays. ``shapes_seen`` (a dict) receives every produced blob's
    per-example shape."""
    blobs = dict(feeds)
    first = next(iter(feeds.values()), None)
    batch = first.shape[0] if first is not None else 1
    dtype = np.result_type(*feeds.values()) if feeds else np.dtype(np.float32)
    buffers: dict[str, np.ndarray] = {}
    for index, step in enumerate(plan.steps):
        xs = [blobs[name] for name in step.inputs]
        rewrite = plan.rewrites.get(index)
        attrs, params = (step.attrs, step.params) if rewrite is None else rewrite(step)
        out = [_buffer(plan, name, buffers, batch, dtype) for name in step.outputs]
        if step.per_example:
            ys = _per_example(step, attrs, params, xs, batch)
        elif all(view is None for view in out):
            ys, _ = step.kind.forward(attrs, params, xs, False)
        else:
            ys, _ = step.kind.forward(attrs, params, xs, False, out=out)
        for name, y, view in zip(step.outputs, ys, out, strict=True):
            if not step.inputs and y.shape[0] != batch:  # loadConstant: one example
                y = np.ascontiguousarray(np.broadcast_to(y, (batch, *y.shape[1:])))
            if view is not None and y is not view:
                view[...] = y
                y = view
            blobs[name] = y
            if shapes_seen is not None and y.shape[0] == batch:  # folded rows: no buffer
                shapes_seen[name] = tuple(y.shape[1:])
        for name in plan.frees[index]:
            blobs.pop(name, None)
    return {name: np.ascontiguousarray(blobs[name]) for name in plan.wanted}


def _per_example(step: Step, attrs, params, xs, batch: int) -> list[np.ndarray]:
    """A ``per_example`` step (``Built.per_example``): ``forward`` on each example alone
    (``nd`` inputs, one row each), outputs stacked; every example must give the same shapes,
    because the runtime batches examples of one shape."""
    results = [
        step.kind.forward(attrs, params, [x[i : i + 1] for x in xs], False)[0] for i in range(batch)
    ]
    for i, ys in enumerate(results):
        shapes = [y.shape for y in ys]
        if shapes != [y.shape for y in results[0]]:
            raise ShapeError(
                f"layer '{step.name}' ({step.kind.oneof}) makes outputs of shapes "
                f"{[list(s[1:]) for s in shapes]} for example {i} but "
                f"{[list(y.shape[1:]) for y in results[0]]} for example 0; the runtime runs a "
                "batch of examples whose tensors have one shape: predict them one at a time"
            )
    return [np.concatenate(column) for column in zip(*results, strict=True)]


def run(plan: Plan, feeds: dict[str, np.ndarray], *, shapes_seen=None) -> dict[str, np.ndarray]:
    """:func:`execute`, batch-parallel when ``runtime.kernels.parallel`` allows it."""
    needed = {name: feeds[name] for name in plan.inputs}
    return parallel.over_batch(lambda chunk: execute(plan, chunk, shapes_seen=shapes_seen), needed)
