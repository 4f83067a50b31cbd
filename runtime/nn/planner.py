"""Runtime, neural-network layer: the compiler's walk over a network's layers: every blob's Core ML
shape and layout, the layout each layer runs in, the relayout steps between them, and the
values the compiler can work out without the model inputs (docs/ARCHITECTURE.md, "Blobs").

For each layer, in the spec's order:

1. the **layout**: the one its first input is held in if the kind lists it and it is
   feasible, else the kind's first feasible layout. ``nd`` is always feasible; ``chw`` needs
   every input of rank 3 or more, all folding the same number of leading entries (a chw kind
   treats the folded rows of its inputs as the same examples);
2. each input held in the other layout is **converted** by one relayout step, made before the
   first layer that needs it and shared by every later one (one converted blob per blob and
   layout, forgotten when a copy layer overwrites the blob);
3. the kind's **build** for that layout gets the shapes in its contract
   (``runtime.nn.layers.base``): in ``chw``, ``(H, W, C)`` rows (carrying their Core ML
   shapes), the outputs keeping the inputs' leading axes as Core ML's rank-5 layers keep the
   rank (unless the build gives its outputs' Core ML shapes, ``Built.core_ml_shapes``); in
   ``nd``, Core ML shapes in and out;
4. outputs are recorded as :class:`~runtime.nn.tensors.Tensor` in the chosen layout.

Nested networks (loop, branch): a ``scoped`` kind's build gets this planner and compiles
its networks with :meth:`Planner.nested` planners, which see the enclosing blobs; its step
reads and writes the enclosing blobs its networks use (``LayerKind.scoped``).

Values: a kind listing ``value_inputs`` (a dynamic reshape's target shape...) gets those
inputs' values when they do not depend on any model input: the walk runs the steps that make
them, once, on a batch of one (getShape and other ``shape_only`` kinds need only shapes). A
kind that needs a value the walk cannot compute raises ``NeedsValues``, which the walk
completes with the blobs' names; values given as ``fixed`` (one specialization of the
network, ``runtime.nn.dynamic``) count as known.
"""

from __future__ import annotations

import math

import numpy as np

from runtime.nn.layers import CHW, ND, LayerKind, Step, get_kind
from runtime.nn.layers.base import ChwRow, NeedsValues
from runtime.nn.tensors import RELAYOUT, RelayoutAttrs, Tensor, convert, from_chw
from updatable import spec as spec_io
from updatable.errors import ShapeError
from updatable.validation.layer_rules.registry import input_bounds

NO_INPUT_LEAD = (1, 1)  # a chw kind without inputs (loadConstant) makes rank-5 tensors


def where(layer, kind: LayerKind) -> str:
    return f"layer '{layer.name}' ({kind.oneof})"


class Planner:
    """The walk's state: tensors, steps, converted blobs and known values."""

    def __init__(self, inputs: dict[str, Tensor], taken: set[str], fixed=None):
        self.tensors: dict[str, Tensor] = dict(inputs)
        self.steps: list[Step] = []
        self.converted: dict[tuple[str, str], str] = {}  # (blob, layout) -> converted blob
        self.origin: dict[str, str] = {}  # converted blob -> the blob it converts
        self.taken = set(taken) | set(inputs)  # blob names in use, generated ones included
        self.producer: dict[str, Step] = {}
        self.values: dict[str, np.ndarray | None] = {}
        # blob -> value fixed for this compile (a specialization, runtime.nn.dynamic)
        self.fixed: dict[str, np.ndarray] = dict(fixed or {})
        self.in_loop = False  # compiling a loop's body (or a network nested in one)

    def nested(self, *, carried=frozenset(), in_loop: bool | None = None) -> Planner:
        """A planner for a network nested in a layer of this one (a loop's, a branch's): it
        sees every blob of this scope and shares the names in use; of the blobs in
        ``carried`` (those the nested networks overwrite, maybe many times) it knows no value
        and reuses no conversion."""
        child = Planner({}, set())
        child.tensors = dict(self.tensors)
        child.converted = {k: v for k, v in self.converted.items() if k[0] not in carried}
        child.origin = {v: k[0] for k, v in child.converted.items()}
        child.fixed = {n: v for n, v in self.fixed.items() if n not in carried}
        child.taken = self.taken  # shared: generated names stay unique across scopes
        child.producer = {n: s for n, s in self.producer.items() if n not in carried}
        child.values = {n: v for n, v in self.values.items() if n not in carried}
        child.values.update(dict.fromkeys(carried))
        child.in_loop = self.in_loop if in_loop is None else in_loop
        return child

    # ---- layouts ---------------------------------------------------------------------------

    def feasible(self, kind: LayerKind, tensors: list[Tensor]) -> list[str]:
        """The layouts of ``kind`` this layer can run in, preferred first."""
        folds = {math.prod(t.lead) for t in tensors}
        chw_ok = all(t.rank >= 3 for t in tensors) and len(folds) <= 1
        return [layout for layout in kind.layouts if layout == ND or chw_ok]

    def choose(self, layer, kind: LayerKind, names: list[str]) -> str:
        tensors = [self.tensors[name] for name in names]
        options = self.feasible(kind, tensors)
        if not options:
            described = ", ".join(
                f"'{n}' of shape {list(t.shape)}" for n, t in zip(names, tensors, strict=True)
            )
            raise ShapeError(
                f"{where(layer, kind)} reads {described}; the runtime runs {kind.oneof} on "
                "tensors of rank 3 or more whose last three axes are C, H and W, all with the "
                "same leading axes"
            )
        if tensors and tensors[0].layout in options:
            return tensors[0].layout
        return options[0]

    def read(self, name: str, layout: str) -> str:
        """The blob holding ``name`` in ``layout``, making the relayout step on first use."""
        tensor = self.tensors[name]
        if tensor.layout == layout:
            return name
        key = (name, layout)
        if key not in self.converted:
            target = self._fresh(f"{name}@{layout}")
            attrs = RelayoutAttrs(tensor.shape, tensor.layout, layout)
            step = Step(f"relayout {name} -> {layout}", RELAYOUT, (name,), (target,), attrs, {})
            self._add(step, [tensor.as_layout(layout)])
            self.converted[key] = target
            self.origin[target] = name
        return self.converted[key]

    def _fresh(self, wanted: str) -> str:
        name, count = wanted, 1
        while name in self.taken:
            count += 1
            name = f"{wanted}#{count}"
        self.taken.add(name)
        return name

    # ---- layers ----------------------------------------------------------------------------

    def add_layers(self, layers) -> None:
        """Add the layers of a network in the spec's order (:meth:`add_layer`), refusing a
        layer that reads a blob no earlier layer makes, or that rewrites one without being a
        copy layer (NeuralNetwork.proto: only copy may), or one with more or fewer inputs
        than its kind takes (:func:`check_input_count`)."""
        for layer in layers:
            check_input_count(layer)
            for name in layer.input:
                if name not in self.tensors:
                    raise ShapeError(
                        f"layer '{layer.name}' reads blob '{name}', which no earlier layer or "
                        f"model input defines (layers must come in topological order)"
                    )
            for name in layer.output:
                if name in self.tensors and spec_io.layer_kind(layer) != "copy":
                    raise ShapeError(
                        f"layer '{layer.name}' writes blob '{name}', which is already defined; "
                        "only a copy layer may overwrite a blob"
                    )
            self.add_layer(layer, get_kind(spec_io.layer_kind(layer)))

    def add_layer(self, layer, kind: LayerKind) -> Step:
        """Choose the layout, convert inputs, build, record the outputs; returns the step."""
        if kind.scoped:
            built = kind.build(layer, self)
            step = Step(
                layer.name,
                kind,
                tuple(built.inputs or ()),
                tuple(built.outputs or ()),
                built.attrs,
                dict(built.params),
                built.per_example,
            )
            self._add(step, list(built.out_shapes))
            return step
        layout = self.choose(layer, kind, list(layer.input))
        names = [self.read(name, layout) for name in layer.input]
        tensors = [self.tensors[name] for name in names]
        built, outs = self._build(layer, kind, layout, names, tensors)
        if len(outs) != len(layer.output):
            raise ShapeError(
                f"{where(layer, kind)} names {len(layer.output)} outputs but produces {len(outs)}"
            )
        step = Step(
            layer.name,
            kind,
            tuple(names),
            tuple(layer.output),
            built.attrs,
            dict(built.params),
            built.per_example,
        )
        self._add(step, outs)
        return step

    def _build(self, layer, kind: LayerKind, layout: str, names, tensors):
        if layout == CHW:
            built = kind.build(layer, [ChwRow(t.chw, t.shape) for t in tensors])
            # the leading axes of the input with the most (broadcasting [C, 1, 1] against
            # [1, C, H, W] gives rank 4); every input folds the same number of entries
            lead = max((t.lead for t in tensors), key=len) if tensors else NO_INPUT_LEAD
            if built.core_ml_shapes is not None:  # outputs with leading axes of their own
                return built, [Tensor(tuple(int(d) for d in s), CHW) for s in built.core_ml_shapes]
            return built, [Tensor(from_chw(s, lead), CHW) for s in built.out_shapes]
        extra = {}
        if kind.value_inputs:
            extra["values"] = [
                self.value(name) if i in kind.value_inputs else None for i, name in enumerate(names)
            ]
        try:
            built = kind.builder(ND)(layer, [t.shape for t in tensors], **extra)
        except NeedsValues as needed:  # name the blobs whose values decide the shape
            needed.blobs = tuple(
                self.origin.get(name, name)
                for i, name in enumerate(names)
                if i in kind.value_inputs and extra["values"][i] is None
            )
            raise
        return built, [Tensor(tuple(int(d) for d in s), ND) for s in built.out_shapes]

    def _add(self, step: Step, outs: list[Tensor]) -> None:
        for name, tensor in zip(step.outputs, outs, strict=True):
            for layout in (CHW, ND):  # a copy overwrote it: older conversions are stale
                self.converted.pop((name, layout), None)
            self.values.pop(name, None)
            self.tensors[name] = tensor
            self.producer[name] = step
        self.steps.append(step)

    # ---- values ----------------------------------------------------------------------------

    def value(self, name: str) -> np.ndarray | None:
        """The Core ML value (no batch axis) of blob ``name`` when no model input feeds it."""
        source = self.origin.get(name, name)
        if source in self.fixed:
            return np.asarray(self.fixed[source]).reshape(self.tensors[name].shape)
        if name not in self.values:
            self.values[name] = None  # a cycle through a copy layer stays unknown
            step = self.producer.get(name)
            if step is not None:
                self._evaluate(step)
        return self.values[name]

    def _evaluate(self, step: Step) -> None:
        if step.kind.shape_only:
            xs = [np.zeros((1, *self.tensors[n].row_shape), np.float32) for n in step.inputs]
        else:
            found = [self.value(n) for n in step.inputs]
            known = [v for v in found if v is not None]
            if len(known) != len(found):
                return
            xs = [
                convert(
                    v[None].astype(np.float32),
                    self.tensors[n].as_layout(ND),
                    self.tensors[n].layout,
                )
                for n, v in zip(step.inputs, known, strict=True)
            ]
        ys, _ = step.kind.forward(step.attrs, step.params, xs, False)
        for name, y in zip(step.outputs, ys, strict=True):
            tensor = self.tensors[name]
            self.values[name] = convert(np.asarray(y), tensor, ND).reshape(tensor.shape)


def check_input_count(layer) -> None:
    """Refuse a layer with fewer or more inputs than Core ML's validator lets its kind have
    (``updatable.validation.layer_rules.input_bounds``). A model loaded without validation
    can hold a layer that reads nothing; it fails here, naming the layer, rather than deep
    inside its unit."""
    bounds = input_bounds(spec_io.layer_kind(layer))
    if bounds is None:
        return
    low, high = bounds
    count = len(layer.input)
    if count >= low and (high is None or count <= high):
        return
    expected = (
        f"exactly {low}"
        if high == low
        else f"at least {low}"
        if high is None
        else f"{low} to {high}"
    )
    raise ShapeError(
        f"layer '{layer.name}' ({spec_io.layer_kind(layer)}) has {count} "
        f"input{'s' * (count != 1)} {list(layer.input)}; this kind takes {expected}"
    )
