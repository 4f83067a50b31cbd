"""Runtime, neural-network layer: Core ML ``mvn``: mean-variance normalisation,
``y = (x - mean) / sqrt(var + epsilon)``.

``MeanVarianceNormalizeLayerParams`` (NeuralNetwork.proto): rank 3 or more, the axes before
``[C, H, W]`` a batch. ``acrossChannels``: statistics over ``C, H, W``; otherwise per channel
over ``H, W`` (the last two axes; converters write PyTorch's LayerNorm over the last axis as
a reshape to ``[.., 1, W]`` + this). ``normalizeVariance`` false: only the mean is subtracted.
``epsilon`` defaults to 1e-6 when unset or 0. The variance is the biased one (``1/n``) and
``epsilon`` is added under the root, the definition of layer normalisation, which is what
converters rely on (the proto does not say).

Both layouts: the statistics run over the last two or three axes of an ``nd`` array, and over
``(H, W)`` or ``(H, W, C)`` of a ``chw`` one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from ._common import or_default, where
from ._nd_axes import input_count
from .base import CHW, ND, Built, CoreMLShape, LayerKind, Shape


@dataclass(frozen=True)
class MvnAttrs:
    axes: tuple[int, ...]  # array axes of the statistics, from the end
    normalize_variance: bool
    epsilon: float


def _attrs(layer, chw: bool) -> MvnAttrs:
    p = layer.mvn
    axes: tuple[int, ...]
    if p.acrossChannels:
        axes = (-3, -2, -1)
    else:
        axes = (-3, -2) if chw else (-2, -1)  # H and W: (N, H, W, C) or (..., H, W)
    return MvnAttrs(axes, bool(p.normalizeVariance), or_default(p.epsilon, 1e-6))


def build(layer, in_shapes: list[Shape]) -> Built:
    input_count(layer, in_shapes, 1)
    return Built(_attrs(layer, chw=True), {}, [tuple(in_shapes[0])])


def build_nd(layer, in_shapes: list[CoreMLShape]) -> Built:
    input_count(layer, in_shapes, 1)
    shape = tuple(in_shapes[0])
    if len(shape) < 3:
        raise ShapeError(
            f"{where(layer)}: reads a tensor of shape {list(shape)}; mvn needs rank 3 or more"
        )
    return Built(_attrs(layer, chw=False), {}, [shape])


def forward(attrs: MvnAttrs, params, xs, keep=False, out=None):
    """``(x - mean) / sqrt(var + eps)`` over the statistics axes."""
    del params, keep, out
    x = xs[0]
    centred = x - x.mean(axis=attrs.axes, keepdims=True)
    if not attrs.normalize_variance:
        return [centred], None
    variance = (centred * centred).mean(axis=attrs.axes, keepdims=True)
    return [centred / np.sqrt(variance + x.dtype.type(attrs.epsilon))], None


KIND = LayerKind("mvn", build, forward, layouts=(CHW, ND), build_nd=build_nd)
