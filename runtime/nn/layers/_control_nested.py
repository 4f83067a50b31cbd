"""Runtime, neural-network layer: networks nested in control-flow layers (loop, branch), shared by
their units: compiling them in the enclosing scope, and running them on a batch.

NeuralNetwork.proto lets a loop's ``conditionNetwork`` / ``bodyNetwork`` and a branch's
``ifBranch`` / ``elseBranch`` read every blob of the enclosing network, and makes every blob
they produce "visible in the scope of the overall network"; a ``copy`` layer inside may
overwrite an enclosing blob (the loop-carried state of converted while loops). So a nested
network compiles with a :meth:`~runtime.nn.planner.Planner.nested` planner over the
enclosing blobs, and the control layer's step reads the enclosing blobs its networks read
and writes the blobs their layers name as outputs.

Compiled shapes are static: a blob that a nested network overwrites keeps its shape, and
leaves in the layout it came in (a relayout step at the end of the network restores it), so
the next iteration, or the code after the layer, finds what it was compiled for.

Running: :func:`run_steps` executes steps over a ``name -> array`` dict that it updates as
it goes, so the blobs made before a ``loopBreak`` / ``loopContinue`` (raised as
:class:`BreakLoop` / :class:`ContinueLoop`) stay made. Control layers run a batch together
while every example takes the same path, and one example at a time from the point where
examples part (:func:`example_rows`, :func:`stack_examples`); a branch that would part
examples around a break or continue raises :class:`Diverged`, and the loop that holds it
re-runs that iteration one example at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runtime.nn.tensors import RELAYOUT, RelayoutAttrs, Tensor
from updatable.errors import ShapeError, UnsupportedLayerError

from ._common import where
from .base import Built, Step

# the networks a layer holds: oneof -> fields of its parameters (NeuralNetwork.proto)
NESTED_NETWORKS = {
    "loop": ("conditionNetwork", "bodyNetwork"),
    "branch": ("ifBranch", "elseBranch"),
}
TRUE_ABOVE = 1e-6  # a condition whose absolute value is at most this is false (proto)
SIGNALS = ("loopBreak", "loopContinue")


class BreakLoop(Exception):
    """Raised by a ``loopBreak`` step: leave the innermost running loop."""


class ContinueLoop(Exception):
    """Raised by a ``loopContinue`` step: end the current iteration of the innermost loop."""


def build_loop_signal(layer, scope) -> Built:
    """The build of ``loopBreak`` and ``loopContinue`` (NeuralNetwork.proto: no inputs, no
    outputs, only inside a loop's bodyNetwork, directly or in a branch there)."""
    if layer.input or layer.output:
        raise UnsupportedLayerError(
            f"{where(layer)}: takes no inputs and no outputs; got {len(layer.input)} inputs, "
            f"{len(layer.output)} outputs"
        )
    if not scope.in_loop:
        raise UnsupportedLayerError(
            f"{where(layer)}: sits outside the bodyNetwork of any loop layer; "
            "NeuralNetwork.proto allows it only there"
        )
    return Built(None, {}, [], inputs=(), outputs=())


class Diverged(Exception):
    """Raised by a branch whose examples part around a break or continue: the loop holding it
    re-runs the iteration one example at a time."""


@dataclass(frozen=True)
class Nested:
    """A compiled nested network: its steps, the enclosing blobs it reads (first use first),
    the blobs its layers make (visible outside) and every blob's final tensor."""

    steps: tuple[Step, ...]
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    tensors: dict


def layers_within(layers):
    """Every layer of ``layers`` and of the networks nested in them (loop, branch), depth
    first in the spec's order."""
    for layer in layers:
        yield layer
        kind = layer.WhichOneof("layer")
        for field in NESTED_NETWORKS.get(kind, ()):
            params = getattr(layer, kind)
            if params.HasField(field):
                yield from layers_within(getattr(params, field).layers)


def written_names(network) -> list[str]:
    """The blob names the layers of ``network`` (and of networks nested in them) write."""
    names: list[str] = []
    for layer in layers_within(network.layers):
        names += [n for n in layer.output if n not in names]
    return names


def holds_signals(network) -> bool:
    """Whether ``network`` breaks or continues the loop around it: a loopBreak/loopContinue
    layer, directly or inside a branch (a nested loop's own are its business)."""
    for layer in network.layers:
        kind = layer.WhichOneof("layer")
        if kind in SIGNALS:
            return True
        if kind == "branch" and any(
            holds_signals(getattr(layer.branch, f))
            for f in NESTED_NETWORKS["branch"]
            if layer.branch.HasField(f)
        ):
            return True
    return False


def compile_nested(planner, network, layer, keep: dict[str, Tensor]) -> Nested:
    """Compile ``network`` with ``planner`` (a nested planner). A blob of ``keep`` that the
    network writes leaves with that tensor: same shape (else ``ShapeError``), and in that
    layout (a relayout step at the end of the network restores it)."""
    start = len(planner.steps)
    planner.add_layers(network.layers)
    made = {name for step in planner.steps[start:] for name in step.outputs}
    writes = tuple(name for name in written_names(network) if name in made)
    for name in writes:
        entry, final = keep.get(name), planner.tensors[name]
        if entry is None or final == entry:
            continue
        if final.shape != entry.shape:
            raise ShapeError(
                f"{where(layer)}: its nested network leaves blob '{name}' with shape "
                f"{list(final.shape)} where shape {list(entry.shape)} is expected; the runtime "
                "compiles static shapes, so a blob that a loop or branch writes has one shape "
                "on every path"
            )
        attrs = RelayoutAttrs(entry.shape, final.layout, entry.layout)
        planner.steps.append(Step(f"relayout {name} back", RELAYOUT, (name,), (name,), attrs))
        planner.tensors[name] = entry
    steps = tuple(planner.steps[start:])
    reads: list[str] = []
    made = set()
    for step in steps:
        reads += [n for n in step.inputs if n not in made and n not in reads]
        made.update(step.outputs)
    return Nested(steps, tuple(reads), writes, dict(planner.tensors))


def truth(x: np.ndarray, batch: int) -> np.ndarray:
    """Per example, whether a size-1 condition is true (its absolute value above 1e-6)."""
    return np.abs(x.reshape(batch, -1)[:, 0]) > TRUE_ABOVE


def run_steps(steps, blobs: dict, batch: int) -> None:
    """Run ``steps`` on the ``batch`` examples of ``blobs``, writing their outputs into it."""
    for step in steps:
        xs = [blobs[name] for name in step.inputs]
        if step.per_example:
            ys = _one_at_a_time(step, xs, batch)
        else:
            ys, _ = step.kind.forward(step.attrs, step.params, xs, False)
        for name, y in zip(step.outputs, ys, strict=True):
            if not step.inputs and y.shape[0] != batch:  # a constant: one example
                y = np.ascontiguousarray(np.broadcast_to(y, (batch, *y.shape[1:])))
            blobs[name] = y


def _one_at_a_time(step, xs, batch):
    """A ``Built.per_example`` step inside a nested network (nd inputs, one row each)."""
    results = [
        step.kind.forward(step.attrs, step.params, [x[i : i + 1] for x in xs], False)[0]
        for i in range(batch)
    ]
    shapes = {tuple(y.shape for y in ys) for ys in results}
    if len(shapes) > 1:
        raise ShapeError(
            f"layer '{step.name}' ({step.kind.oneof}) makes outputs of other shapes for other "
            "examples; the runtime runs a batch of examples whose tensors have one shape: "
            "predict them one at a time"
        )
    return [np.concatenate(column) for column in zip(*results, strict=True)]


def example_rows(blobs: dict, folds: dict[str, int], index: int) -> dict:
    """The blobs of one example: ``folds[name]`` rows per example (``chw`` blobs fold their
    leading axes into rows; ``nd`` blobs have one)."""
    return {
        name: blobs[name][index * rows : (index + 1) * rows]
        for name, rows in folds.items()
        if name in blobs
    }


def stack_examples(results: list[dict], names) -> dict:
    """One batch from per-example blob dicts (example-major rows)."""
    return {name: np.concatenate([r[name] for r in results]) for name in names}


def batch_size(xs, folds: tuple[int, ...]) -> int:
    """Examples in a batch of step inputs with ``folds`` rows per example (1 without inputs:
    the graph repeats a constant output to the batch)."""
    return xs[0].shape[0] // folds[0] if xs else 1
