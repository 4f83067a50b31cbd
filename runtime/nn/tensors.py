"""Runtime, neural-network layer: the two blob layouts, ``chw`` and ``nd``, and the conversions
between them (docs/ARCHITECTURE.md, "Blobs").

Every blob has a **Core ML shape**, the shape of its tensor for one prediction exactly as Core
ML sees it (full rank, e.g. ``(1, 3, 32, 32)``, ``(20, 1, 6, 1, 1)``, ``(1, 10)``), and one of
two layouts, which fix how a batch of ``N`` such tensors is stored:

* ``nd``: a C-contiguous array ``(N, *shape)``: the runtime's example axis in front of the
  tensor in Core ML's axis order;
* ``chw``: the channels-last array ``(N * L, H, W, C)`` of a shape ``lead + (C, H, W)`` (rank
  3 or more), with the ``L = prod(lead)`` leading entries of every example folded into the
  first axis, example-major. Layers written for Core ML's rank-5 tensors treat that axis as
  independent examples, so ``(B, C, H, W)`` or ``(Seq, B, C, H, W)`` runs through them as
  ``N * B`` or ``N * Seq * B`` images.

:class:`Tensor` is a blob's shape and layout; :func:`to_nd` and :func:`to_chw` convert arrays;
:data:`RELAYOUT` is the internal step kind the compiler inserts to convert a blob for a layer
that reads the other layout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from runtime.kernels import elementwise
from runtime.kernels.jit import is_compiled
from runtime.nn.layers.base import CHW, ND, LayerKind, Shape

LAYOUTS = (CHW, ND)


@dataclass(frozen=True)
class Tensor:
    """A blob's Core ML shape (one example, full rank) and its layout (module docstring)."""

    shape: tuple[int, ...]
    layout: str

    def __post_init__(self):
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}; got {self.layout!r}")
        if self.layout == CHW and len(self.shape) < 3:
            raise ValueError(f"a chw blob has rank 3 or more; got shape {list(self.shape)}")

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def lead(self) -> tuple[int, ...]:
        """The axes in front of ``[C, H, W]`` (folded into the first array axis in ``chw``)."""
        return self.shape[:-3]

    @property
    def fold(self) -> int:
        """Array rows per example: ``prod(lead)`` in ``chw``, 1 in ``nd``."""
        return math.prod(self.lead) if self.layout == CHW else 1

    @property
    def chw(self) -> Shape:
        """``(H, W, C)`` of the last three axes (``chw`` blobs)."""
        channels, height, width = self.shape[-3:]
        return height, width, channels

    @property
    def row_shape(self) -> tuple[int, ...]:
        """The array's shape after its first axis: ``(H, W, C)`` or the Core ML shape."""
        return self.chw if self.layout == CHW else self.shape

    def size(self) -> int:
        """Values per example."""
        return math.prod(self.shape)

    def as_layout(self, layout: str) -> Tensor:
        return Tensor(self.shape, layout)


def from_chw(chw: Shape, lead: tuple[int, ...]) -> tuple[int, ...]:
    """The Core ML shape ``lead + (C, H, W)`` of a chw row shape ``(H, W, C)``."""
    height, width, channels = chw
    return (*lead, channels, height, width)


def can_fold(shape: tuple[int, ...]) -> bool:
    """Whether a tensor of this shape can be held ``chw`` (rank 3 or more)."""
    return len(shape) >= 3


def to_nd(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A ``chw`` array ``(N * L, H, W, C)`` -> the ``nd`` array ``(N, *shape)``."""
    rows = math.prod(shape[:-3])
    first = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    return first.reshape(x.shape[0] // rows, *shape)


def to_chw(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """An ``nd`` array ``(N, *shape)`` -> the ``chw`` array ``(N * L, H, W, C)``."""
    channels, height, width = shape[-3:]
    source = np.ascontiguousarray(x).reshape(-1, channels, height, width)
    if channels == 1 or height * width == 1:  # nothing moves: a reshape
        return source.reshape(-1, height, width, channels)
    out = np.empty((source.shape[0], height, width, channels), x.dtype)
    if x.dtype == np.float32 and is_compiled(elementwise.channels_last):
        elementwise.channels_last(source, out)  # 3-4x numpy's strided copy for images
    else:
        elementwise.NUMPY["channels_last"](source, out)
    return out


def convert(x: np.ndarray, tensor: Tensor, layout: str) -> np.ndarray:
    """``x``, held in ``tensor.layout``, as an array in ``layout``."""
    if layout == tensor.layout:
        return x
    return to_nd(x, tensor.shape) if layout == ND else to_chw(x, tensor.shape)


@dataclass(frozen=True)
class RelayoutAttrs:
    shape: tuple[int, ...]  # Core ML shape of the blob
    source: str  # layout read
    target: str  # layout written


def _relayout_build(layer, in_shapes):
    raise TypeError("relayout steps are made by the compiler, never built from a layer")


def _relayout_forward(attrs: RelayoutAttrs, params, xs, keep=False, out=None):
    """The blob in the other layout (values unchanged, only their order in memory)."""
    del params, keep, out
    return [convert(xs[0], Tensor(attrs.shape, attrs.source), attrs.target)], None


def _relayout_backward(
    attrs: RelayoutAttrs, params, cache, dys, *, input_grads=True, param_grads=True
):
    """The gradient moved back to the layout read: the inverse permutation."""
    del params, cache, param_grads
    if not input_grads:
        return [None], {}
    return [convert(dys[0], Tensor(attrs.shape, attrs.target), attrs.source)], {}


# Not a Core ML layer, so not in the registry: the compiler makes these steps itself.
RELAYOUT = LayerKind(
    oneof="relayout",
    build=_relayout_build,
    forward=_relayout_forward,
    backward=_relayout_backward,
    layouts=LAYOUTS,
)
