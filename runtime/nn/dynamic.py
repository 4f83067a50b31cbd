"""Runtime, neural-network layer: networks whose shapes depend on the values of the model inputs.

A layer such as ``reshapeDynamic`` takes its output shape from the values of an input; when
those values come from the model inputs the compiler cannot fix the shapes
(``NeedsValues``). :class:`SpecializedNetwork` then stands in for the compiled network:

1. a **prefix** network (the layers before the first such layer) computes the blobs whose
   values decide the shapes, for the whole batch;
2. examples are **grouped** by those values, and for each group the network is compiled
   with them fixed (a *specialization*, cached by value; one may again depend on later
   values, which nests the same way);
3. each group runs its specialization as one batch; the outputs are put back in example
   order. Examples whose outputs have different shapes cannot share a batch: the run is
   refused, naming the outputs (predict them one at a time).

Model inputs stay in their natural layouts (no input is held ``chw`` ahead of its readers),
so every specialization reads the feeds the engine made. Such a network runs forward only:
training and ONNX export need static shapes and say so.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from runtime.nn.graph import compile_network, probability_blob
from runtime.nn.inputs import input_tensor, preprocessing
from runtime.nn.layers.base import NeedsValues
from runtime.nn.tensors import ND, Tensor, convert
from updatable import proto
from updatable import spec as spec_io
from updatable.errors import ShapeError, UnsupportedModelError


def compile_specialized(spec, *, fuse: bool = True, values=None):
    """The network of ``spec`` with ``values`` fixed: a ``Network``, or a
    :class:`SpecializedNetwork` when another shape depends on the model inputs."""
    try:
        return compile_network(spec, fuse=fuse, values=dict(values or {}))
    except NeedsValues as needed:
        return SpecializedNetwork.create(spec, fuse, needed, dict(values or {}))


@dataclass
class SpecializedNetwork:
    """Stands in for a ``Network`` (inputs, tensors, shapes, outputs, preprocessing, run)
    when shapes depend on the model inputs' values; see the module docstring."""

    spec: proto.Model
    fuse: bool
    needed: tuple[str, ...]  # blobs whose values decide the shapes
    prefix: Any  # the Network making them
    base: dict  # values fixed by an enclosing specialization
    inputs: dict[str, tuple[int, ...]]
    tensors: dict[str, Tensor]
    outputs: list[str]
    preprocessing: dict
    _compiled: dict = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def create(cls, spec, fuse: bool, needed: NeedsValues, base: dict) -> SpecializedNetwork:
        prefix = compile_network(spec, fuse=fuse, values=base, until=(needed.layer, needed.blobs))
        net = spec_io.network(spec)
        tensors = {
            f.name: t for f in spec.description.input if (t := input_tensor(f, net)) is not None
        }
        outputs = [f.name for f in spec.description.output]
        probabilities = probability_blob(spec)
        if probabilities is not None and probabilities not in outputs:
            outputs.append(probabilities)
        return cls(
            spec,
            fuse,
            needed.blobs,
            prefix,
            base,
            {name: t.row_shape for name, t in tensors.items()},
            dict(tensors),
            outputs,
            preprocessing(spec, net, tensors),
        )

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {name: tensor.row_shape for name, tensor in self.tensors.items()}

    @property
    def steps(self):
        raise UnsupportedModelError(
            f"the network's shapes depend on the values of {list(self.needed)}, which come "
            "from the model inputs: it runs forward (compiled per set of values), but "
            "training, weight parameters and ONNX export need static shapes"
        )

    def index_of(self, layer_name: str) -> int:
        """No steps to index: raises with the reason (see :attr:`steps`)."""
        del layer_name
        return self.steps

    def run(self, feeds: dict[str, np.ndarray], **extent) -> dict[str, np.ndarray]:
        """The model outputs for ``feeds`` (each output ``nd``: ``(N, *shape)``)."""
        if extent:
            self.steps  # noqa: B018  (partial runs need steps: raises with the reason)
        known = self.prefix.run(feeds, outputs=list(self.needed))
        rows = {name: convert(known[name], self.prefix.tensors[name], ND) for name in known}
        count = len(next(iter(feeds.values())))
        groups: dict[tuple, list[int]] = {}
        for i in range(count):
            key = tuple((name, tuple(rows[name][i].reshape(-1).tolist())) for name in self.needed)
            groups.setdefault(key, []).append(i)
        parts = []
        for key, members in groups.items():
            network = self._specialization(key)
            chosen = {name: value[members] for name, value in feeds.items()}
            result = network.run(chosen)
            parts.append(
                (
                    members,
                    {
                        name: convert(result[name], network.tensors[name], ND)
                        for name in self.outputs
                        if name in result
                    },
                )
            )
        return self._assembled(parts, count)

    def _specialization(self, key):
        with self._lock:
            if key not in self._compiled:
                values = dict(self.base)
                for name, flat in key:
                    values[name] = np.asarray(flat, np.float32)
                self._compiled[key] = compile_specialized(self.spec, fuse=self.fuse, values=values)
            return self._compiled[key]

    def _assembled(self, parts, count: int) -> dict[str, np.ndarray]:
        outputs = {}
        for name in parts[0][1]:
            shapes = {part[name].shape[1:] for _, part in parts}
            if len(shapes) > 1:
                raise ShapeError(
                    f"output '{name}' has shapes {sorted(list(s) for s in shapes)} for "
                    "different examples of this batch (its shape depends on the inputs' "
                    "values); the runtime batches examples of one shape: predict them one at "
                    "a time"
                )
            shape = shapes.pop()
            full = np.empty((count, *shape), parts[0][1][name].dtype)
            for members, part in parts:
                full[members] = part[name]
            outputs[name] = full
            self.tensors[name] = Tensor(tuple(shape), ND)
        return outputs
