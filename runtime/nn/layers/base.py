"""Runtime, neural-network layer: the contract every layer unit fulfils (see docs/ARCHITECTURE.md,
"Layer units")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# A per-example blob shape inside the runtime: (H, W, C). Core ML writes it [C, H, W].
Shape = tuple[int, int, int]
# A Core ML tensor shape for one example, full rank, e.g. (1, 3, 32, 32) or (20, 1, 6, 1, 1).
CoreMLShape = tuple[int, ...]

# Blob layouts (runtime.nn.tensors): channels-last rows with the leading axes folded into the
# batch axis, or the plain N-D tensor behind the runtime's example axis.
CHW = "chw"
ND = "nd"


@dataclass(frozen=True)
class Built:
    """What ``LayerKind.build`` returns for one layer of a spec.

    ``out_shapes`` are ``(H, W, C)`` rows for a kind that reads only ``chw``, Core ML shapes
    for every other kind. ``per_example`` asks the runtime to run the step on one example at a
    time (``N = 1`` calls, outputs stacked): the hook for kinds whose work depends on the
    values of one example (a loop whose trip count is data, a branch); their output shapes are
    still the static ``out_shapes``, checked at run time.

    A ``scoped`` kind (``LayerKind.scoped``) also names the blobs its step reads and writes
    (``inputs``, ``outputs``); its ``out_shapes`` are then the outputs'
    :class:`~runtime.nn.tensors.Tensor` (shape and layout), one per output.
    """

    attrs: Any
    params: dict[str, np.ndarray]
    out_shapes: list
    per_example: bool = False
    inputs: tuple[str, ...] | None = None
    outputs: tuple[str, ...] | None = None


@dataclass(frozen=True)
class LayerKind:
    """One Core ML layer kind: build from the proto, forward, and (optionally) backward.

    ``layouts``: the blob layouts the kind reads and writes, preferred first. ``("chw",)``
    kinds keep the rank-5 contract: ``build(layer, in_shapes: list[Shape])`` with ``(H, W, C)``
    rows. Every other kind gets Core ML shapes: ``build(layer, in_shapes)``, plus the layout
    the compiler chose, ``build(layer, in_shapes, layout)``, when it lists two.
    ``value_inputs``: positions of inputs whose values ``build`` needs (a dynamic reshape's
    shape...); it then also gets ``values=[array | None per input]``: the value when the
    compiler can compute it without model inputs, else ``None``.
    ``shape_only``: ``forward`` reads only its inputs' shapes (getShape), so the compiler may
    evaluate it whatever its inputs hold.
    ``scoped``: the layer holds networks of its own (loop, branch) or acts on the loop around
    it (loopBreak, loopContinue), so its step reads and writes blobs of the enclosing network
    beyond the layer's listed inputs and outputs: ``build(layer, scope)`` gets the compiler's
    :class:`~runtime.nn.planner.Planner` of the enclosing network instead of shapes, and
    returns a ``Built`` naming the step's inputs and outputs.
    """

    oneof: str
    build: Callable[..., Built]
    forward: Callable[..., tuple[list[np.ndarray], Any]]
    backward: Callable[..., tuple[list[np.ndarray | None], dict[str, np.ndarray]]] | None = None
    export: Callable[[Any, dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None
    import_: Callable[[Any, dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None
    layouts: tuple[str, ...] = (CHW,)
    value_inputs: tuple[int, ...] = ()
    shape_only: bool = False
    scoped: bool = False


@dataclass
class Step:
    """A compiled layer in a network plan; ``params`` is replaced by training, never mutated.
    ``per_example``: run one example at a time (``Built.per_example``)."""

    name: str
    kind: LayerKind
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: Any
    params: dict[str, np.ndarray] = field(default_factory=dict)
    per_example: bool = False
