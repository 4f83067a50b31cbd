"""Runtime, neural-network layer: the layers whose shapes depend on one example's values, compiled
when a prediction runs (docs/ARCHITECTURE.md, "Blobs").

A build whose output shape depends on the values of an input that a model input feeds (a
``whereNonZero`` of data, a range whose end is data, a reshape to a computed shape) raises
:class:`~runtime.nn.layers.base.RunTimeShape`. ``compile_network`` then keeps the layers before
it as ordinary steps and ends the plan with one **deferred step** (:func:`defer`): it reads, in
the ``nd`` layout, every blob that the remaining layers read, and runs per example
(``Built.per_example``). For each example it compiles the remaining layers with every value
known, the example's own (so every build that asks for a value gets it), runs them, and
returns the model outputs they make, in the ``nd`` layout and the shape that example gives.
The examples of one batch must give one shape (the runtime batches examples of one shape),
else the error names the layer; one at a time, any shapes go.

A compiled tail is kept for the next example whose values *consulted* by the builds (the
``whereNonZero`` input, the range bounds...: the blobs the compiler read through
``Planner.value``) are the same, up to :data:`CACHE` tails per step; this memo changes no
result, only the time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from runtime.nn import execution
from runtime.nn.layers import ND, LayerKind, Step, get_kind
from runtime.nn.planner import Planner
from runtime.nn.tensors import Tensor, convert
from updatable import spec as spec_io

CACHE = 16  # compiled tails kept per deferred step


@dataclass(frozen=True)
class Tail:
    """One compilation of the deferred layers: its plan, its tensors, and the values it
    assumed (blob -> bytes of the example's value), the key for reusing it."""

    plan: execution.Plan
    tensors: Mapping[str, Tensor]
    assumed: Mapping[str, bytes]


@dataclass(frozen=True)
class DeferredAttrs:
    layers: tuple  # the NeuralNetworkLayer messages, from the first deferred one on
    inputs: tuple[str, ...]  # blob names as the layers read them, aligned with the step's
    tensors: Mapping[str, Tensor]  # their nd tensors
    outputs: tuple[str, ...]  # the model outputs the layers make
    taken: frozenset[str]  # blob names in use (the tail's relayout steps get fresh ones)
    tails: list = field(default_factory=list, compare=False, repr=False)


def defer(planner: Planner, layers, wanted) -> Step | None:
    """Add the deferred step that runs ``layers`` per example to ``planner``'s steps; returns
    it (``None`` when ``layers`` make none of ``wanted``, the model outputs)."""
    made = {name for layer in layers for name in layer.output}
    outputs = tuple(dict.fromkeys(name for name in wanted if name in made))
    if not outputs:
        return None
    read = dict.fromkeys(n for layer in layers for n in layer.input if n in planner.tensors)
    names = tuple(read)
    converted = tuple(planner.read(name, ND) for name in names)
    attrs = DeferredAttrs(
        tuple(layers),
        names,
        MappingProxyType({n: planner.tensors[n].as_layout(ND) for n in names}),
        outputs,
        frozenset(planner.taken),
    )
    first = layers[0]
    step = Step(
        first.name,
        DEFERRED, converted, outputs, attrs, {}, per_example=True,
    )
    planner.steps.append(step)
    return step


def _values(attrs: DeferredAttrs, xs) -> dict[str, np.ndarray]:
    """The Core ML value (no batch axis) of every input, for one example."""
    return {
        name: np.ascontiguousarray(x[0]).reshape(attrs.tensors[name].shape)
        for name, x in zip(attrs.inputs, xs, strict=True)
    }


def _compile(attrs: DeferredAttrs, values: dict[str, np.ndarray]) -> Tail:
    planner = Planner(dict(attrs.tensors), set(attrs.taken))
    planner.values.update(values)
    for layer in attrs.layers:
        planner.add_layer(layer, get_kind(spec_io.layer_kind(layer)))
    steps = [*planner.steps]
    tensors = dict(planner.tensors)
    plan = execution.make_plan(steps, attrs.outputs, defer=False)
    assumed = {n: values[n].tobytes() for n in planner.consulted if n in values}
    return Tail(plan, MappingProxyType(tensors), MappingProxyType(assumed))


def _tail(attrs: DeferredAttrs, values: dict[str, np.ndarray]) -> Tail:
    """A compiled tail whose assumed values are this example's (compiled on a miss)."""
    for tail in attrs.tails:
        if all(values[n].tobytes() == raw for n, raw in tail.assumed.items()):
            return tail
    tail = _compile(attrs, values)
    attrs.tails.insert(0, tail)
    del attrs.tails[CACHE:]
    return tail


def _forward(attrs: DeferredAttrs, params, xs, keep=False, out=None):
    """One example: compile (or reuse) the tail for its values, run it, outputs in ``nd``."""
    del params, keep, out
    tail = _tail(attrs, _values(attrs, xs))
    blobs = execution.execute(tail.plan, dict(zip(attrs.inputs, xs, strict=True)))
    return [convert(blobs[name], tail.tensors[name], ND) for name in attrs.outputs], None


def _build(layer, in_shapes):
    raise TypeError("deferred steps are made by the compiler, never built from a layer")


# Not a Core ML layer, so not in the registry: the compiler makes these steps itself.
DEFERRED = LayerKind(oneof="deferred", build=_build, forward=_forward, layouts=(ND,))
