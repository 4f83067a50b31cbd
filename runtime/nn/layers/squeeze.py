"""Runtime, neural-network layer: Core ML ``squeeze`` and ``expandDims``: remove or insert axes of
size 1, by tensor rank.

``SqueezeLayerParams`` (``axes``, ``squeezeAll``) and ``ExpandDimsLayerParams`` (``axes``) in
NeuralNetwork.proto, Core ML 3. Neither moves a value: the example keeps Core ML's flat element
order and only its shape changes, so both run as a reshape of the example's values.

Rank. These layers count axes over the tensor's rank (negative axes from the end), so the
runtime tracks the rank of every blob (``runtime.nn.graph``). A multiArray input has its
declared rank under ``EXACT_ARRAY_MAPPING``, which Core ML requires of a network with array
inputs and Core ML 3 layers such as these (validator rule N4); under the rank-5 mapping an
input is ``[Seq, Batch, C, H, W]`` (an image under ``RANK4_IMAGE_MAPPING`` rank 4,
``[Batch, C, H, W]``). Every other layer keeps the rank of its first input. The tensor of an
example of rank ``r`` is its ``[C, H, W]`` right-aligned to ``r`` axes (leading axes, Core
ML's batch and sequence, have size 1 per example), and a tensor is read back as
``[C, H, W]`` from its last three axes: Core ML's rule for the notational axes in N-D
tensors, width is axis -1, height -2 and channel -3 (NeuralNetwork.proto, "generic
N-Dimensional tensors").

Refused at load, each naming the layer: an axis out of range or repeated, squeezing an axis
whose size is not 1 (as Core ML does), and a result that has an axis larger than 1 in front of
``[C, H, W]`` (Core ML's batch or sequence axis: one example cannot hold it). A result of rank
1 or 2 is allowed, but only these two layers may read it (``runtime.nn.graph``): the rank-5
layers have no channel axis to read there.
"""

from __future__ import annotations

from dataclasses import dataclass

from updatable.errors import ShapeError

from ._common import expect_inputs, refill, where
from .base import Built, LayerKind, Shape

RANK5 = 5  # a blob's rank under Core ML's rank-5 mapping


@dataclass(frozen=True)
class SqueezeAttrs:
    out_shape: Shape  # (H', W', C')
    out_rank: int


def example_chw(tensor: list[int]) -> list[int] | None:
    """The ``[C, H, W]`` an example's tensor is read as: its last three axes, 1 for missing
    ones; ``None`` when an axis before them is larger than 1."""
    if any(d != 1 for d in tensor[:-3]):
        return None
    return [1, 1, 1, *tensor][-3:]


def _tensor(chw: list[int], rank: int) -> list[int]:
    """An example's ``[C, H, W]`` as its tensor of ``rank`` axes (right-aligned)."""
    return [1] * (rank - 3) + chw if rank >= 3 else chw[3 - rank :]


def _axes(layer, axes, rank: int) -> list[int]:
    resolved = [a + rank if a < 0 else a for a in (int(v) for v in axes)]
    if len(set(resolved)) != len(resolved) or any(a < 0 or a >= rank for a in resolved):
        raise ShapeError(
            f"{where(layer)}: axes {list(axes)} must be distinct and within [-{rank}, "
            f"{rank - 1}] for a tensor of rank {rank}"
        )
    return sorted(resolved)


def _squeezed(layer, tensor: list[int]) -> list[int]:
    p = layer.squeeze
    if p.squeezeAll:
        return [d for d in tensor if d != 1] or [1]
    if not p.axes:
        raise ShapeError(f"{where(layer)}: no axes to squeeze and squeezeAll is false")
    axes = _axes(layer, p.axes, len(tensor))
    for axis in axes:
        if tensor[axis] != 1:
            raise ShapeError(
                f"{where(layer)}: cannot squeeze axis {axis} of the input of shape {tensor}: "
                f"its size is {tensor[axis]}, not 1"
            )
    return [d for i, d in enumerate(tensor) if i not in axes] or [1]


def _expanded(layer, tensor: list[int]) -> list[int]:
    axes = _axes(layer, layer.expandDims.axes, len(tensor) + len(layer.expandDims.axes))
    values = iter(tensor)
    return [1 if i in axes else next(values) for i in range(len(tensor) + len(axes))]


def result(layer, chw: list[int], rank: int) -> tuple[list[int], int]:
    """``([C', H', W'], rank')`` of the layer's output for an input ``[C, H, W]`` of
    ``rank`` (see the module docstring)."""
    tensor = _tensor(list(chw), rank)
    out = (
        _squeezed(layer, tensor)
        if layer.WhichOneof("layer") == "squeeze"
        else _expanded(layer, tensor)
    )
    chw = example_chw(out)
    if chw is None:
        raise ShapeError(
            f"{where(layer)}: the output shape {out} has an axis larger than 1 before its last "
            f"three, where Core ML keeps the batch and sequence axes; one example holds at most "
            f"[C, H, W]"
        )
    return chw, len(out)


def ranked_build(layer, in_shapes: list[Shape], in_ranks: list[int]) -> tuple[Built, list[int]]:
    expect_inputs(layer, in_shapes)
    height, width, channels = in_shapes[0]
    (c, h, w), rank = result(layer, [channels, height, width], in_ranks[0])
    return Built(SqueezeAttrs((h, w, c), rank), {}, [(h, w, c)]), [rank]


def build(layer, in_shapes: list[Shape]) -> Built:
    """:func:`ranked_build` for an input of rank 5 (a model input's rank)."""
    return ranked_build(layer, in_shapes, [RANK5])[0]


def forward(attrs: SqueezeAttrs, params, xs, keep=False, out=None):
    """The example's values in Core ML order, refilled into ``[C', H', W']``."""
    del params, keep, out
    x = xs[0]
    if x.shape[1:] == attrs.out_shape:
        return [x], None  # only leading axes came or went: nothing moves
    return [refill(x, attrs.out_shape)], None


SQUEEZE = LayerKind(oneof="squeeze", build=build, forward=forward, ranked_build=ranked_build)
EXPAND_DIMS = LayerKind(oneof="expandDims", build=build, forward=forward, ranked_build=ranked_build)
KIND = SQUEEZE
