"""Runtime, neural-network layer: the band kinds ``matrixBandPart``, ``lowerTriangular`` and
``upperTriangular`` (one build, one forward).

Each keeps, in every matrix formed by the last two axes of a tensor of rank 2 or more (the
leading axes are batch), the entries ``(m, n)`` inside a band and sets the others to 0; the
output has the input's shape. The bands, with ``d = n - m`` (column minus row):

* ``matrixBandPart`` (``MatrixBandPartLayerParams``): ``(numLower < 0 or -d <= numLower) and
  (numUpper < 0 or d <= numUpper)``: a negative bound keeps that whole triangle;
* ``lowerTriangular`` (``LowerTriangularLayerParams``): ``d <= k`` (``numpy.tril``);
* ``upperTriangular`` (``UpperTriangularLayerParams``): ``d >= k`` (``numpy.triu``);

``k = 0`` is the main diagonal, ``k > 0`` above it. The proto writes the output as ``band(m,
n) * input``; the runtime writes an exact 0 outside the band, so an infinite or NaN entry
there gives 0 rather than NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from ._common import where
from ._nd_axes import input_count
from .base import ND, Built, CoreMLShape, LayerKind


@dataclass(frozen=True)
class BandAttrs:
    low: int | None  # smallest kept n - m, None: no bound
    high: int | None  # largest kept n - m, None: no bound


def band(layer) -> BandAttrs:
    """The kept diagonals ``low <= n - m <= high`` of a band layer."""
    op = layer.WhichOneof("layer")
    if op == "matrixBandPart":
        p = layer.matrixBandPart
        return BandAttrs(
            None if p.numLower < 0 else -int(p.numLower),
            None if p.numUpper < 0 else int(p.numUpper),
        )
    if op == "lowerTriangular":
        return BandAttrs(None, int(layer.lowerTriangular.k))
    return BandAttrs(int(layer.upperTriangular.k), None)


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    input_count(layer, in_shapes, 1)
    shape = tuple(in_shapes[0])
    if len(shape) < 2:
        raise ShapeError(
            f"{where(layer)}: reads a tensor of shape {list(shape)}; the layer needs rank 2 or "
            "more (its last two axes are the matrix)"
        )
    return Built(band(layer), {}, [shape])


def forward(attrs: BandAttrs, params, xs, keep=False, out=None):
    """``y[.., m, n] = x[.., m, n]`` inside the band, ``0`` outside."""
    del params, keep, out
    x = xs[0]
    rows, columns = x.shape[-2:]
    offset = np.arange(columns)[None, :] - np.arange(rows)[:, None]  # n - m
    keep_ = np.ones((rows, columns), dtype=bool)
    if attrs.low is not None:
        keep_ &= offset >= attrs.low
    if attrs.high is not None:
        keep_ &= offset <= attrs.high
    return [np.where(keep_, x, x.dtype.type(0))], None


def kind(oneof: str) -> LayerKind:
    """The ``LayerKind`` of one band layer (each unit makes its own)."""
    return LayerKind(oneof, build, forward, layouts=(ND,))
