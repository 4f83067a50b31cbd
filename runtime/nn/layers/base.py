"""Runtime, neural-network layer: the contract every layer unit fulfils (see docs/ARCHITECTURE.md,
"Layer units")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from updatable.errors import UnsupportedLayerError

# A per-example blob shape inside the runtime: (H, W, C). Core ML writes it [C, H, W].
Shape = tuple[int, int, int]
# A Core ML tensor shape for one example, full rank, e.g. (1, 3, 32, 32) or (20, 1, 6, 1, 1).
CoreMLShape = tuple[int, ...]

# Blob layouts (runtime.nn.tensors): channels-last rows with the leading axes folded into the
# batch axis, or the plain N-D tensor behind the runtime's example axis.
CHW = "chw"
ND = "nd"


class NeedsValues(UnsupportedLayerError):
    """A layer's output shape depends on the values of inputs computed from the model inputs
    (``LayerKind.value_inputs`` that the compiler could not work out). The compiler fills
    ``blobs``; the network engine then compiles the network again for each set of those
    values it meets (``runtime.nn.dynamic``); other callers see an ``UnsupportedLayerError``."""

    def __init__(self, message: str, layer: str):
        super().__init__(message)
        self.layer = layer
        self.blobs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Built:
    """What ``LayerKind.build`` returns for one layer of a spec.

    ``out_shapes`` are ``(H, W, C)`` rows for a kind that reads only ``chw``, Core ML shapes
    for every other kind. ``per_example`` asks the runtime to run the step on one example at a
    time (``N = 1`` calls, outputs stacked): the hook for kinds whose work depends on the
    values of one example (a loop whose trip count is data, a branch); their output shapes are
    still the static ``out_shapes``, checked at run time. ``core_ml_shapes``: a ``chw`` build
    whose outputs do not keep the inputs' leading axes (a legacy reshape or sequenceRepeat
    that changes the sequence length) gives their Core ML shapes here; ``None``: the outputs
    keep the inputs' leading axes.
    still the static ``out_shapes``, checked at run time.

    A ``scoped`` kind (``LayerKind.scoped``) also names the blobs its step reads and writes
    (``inputs``, ``outputs``); its ``out_shapes`` are then the outputs'
    :class:`~runtime.nn.tensors.Tensor` (shape and layout), one per output.
    """

    attrs: Any
    params: dict[str, np.ndarray]
    out_shapes: list
    per_example: bool = False
    core_ml_shapes: list | None = None
    inputs: tuple[str, ...] | None = None
    outputs: tuple[str, ...] | None = None


class ChwRow(tuple):
    """An input row ``(H, W, C)`` handed to a ``chw`` build by the compiler, carrying its
    tensor's Core ML shape as ``core_ml`` for the kinds whose meaning depends on the rank
    (innerProduct: rank 3 contracts the last axis, rank 4 and 5 ``C*H*W``). A plain tuple
    (a test building one layer) has no rank: such kinds then infer it as before."""

    core_ml: CoreMLShape

    def __new__(cls, row: Shape, core_ml: CoreMLShape):
        made = super().__new__(cls, tuple(int(v) for v in row))
        made.core_ml = tuple(int(d) for d in core_ml)
        return made


def core_ml_shape(row) -> CoreMLShape | None:
    """The Core ML shape behind a ``chw`` build's input row, when the compiler gave one."""
    return getattr(row, "core_ml", None)


@dataclass(frozen=True)
class LayerKind:
    """One Core ML layer kind: build from the proto, forward, and (optionally) backward.

    ``layouts``: the blob layouts the kind reads and writes, preferred first. In ``chw``,
    ``build(layer, in_shapes: list[Shape])`` gets ``(H, W, C)`` rows (the rank-5 contract;
    see :class:`ChwRow`); in ``nd``, Core ML shapes, through ``build`` for an nd-only kind
    and through ``build_nd`` for a kind that lists both. One ``forward`` serves both: the
    attrs tell it which layout it runs in.
    ``value_inputs``: positions of inputs whose values the nd build needs (a dynamic
    reshape's shape...); it then also gets ``values=[array | None per input]``: the value
    when the compiler can compute it without model inputs, else ``None``.
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
    build_nd: Callable[..., Built] | None = None
    value_inputs: tuple[int, ...] = ()
    shape_only: bool = False
    scoped: bool = False

    def builder(self, layout: str) -> Callable[..., Built]:
        """The build function serving ``layout``."""
        if layout == ND and CHW in self.layouts:
            if self.build_nd is None:
                raise TypeError(f"layer kind {self.oneof} lists both layouts but no build_nd")
            return self.build_nd
        return self.build


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
