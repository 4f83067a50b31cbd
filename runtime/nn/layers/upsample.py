"""Runtime, neural-network layer: Core ML ``upsample`` layer: enlarge H and W by nearest neighbour
or bilinear interpolation.

``UpsampleLayerParams`` (NeuralNetwork.proto, its grid formulas in ``LinearUpsampleMode``):
input of rank 3 or more, the axes before ``[C, H, W]`` treated as batch. The output size is
``floor(X * factor)`` per axis, with ``scalingFactor`` (integers, default ``[1, 1]``) or
``fractionalScalingFactor`` (bilinear with an align-corners mode only, as Core ML's
validator demands). Nearest neighbour repeats each pixel ``factor`` times. Bilinear samples
the input at grid points ``g_i`` (``i = 0 .. Xout - 1``), clamped to ``[0, Xin - 1]``:

* ``DEFAULT``: ``g_i = i * Xin / Xout`` (corners not aligned, no half-pixel shift);
* ``ALIGN_CORNERS_TRUE``: ``g_i = i * (Xin - 1) / (Xout - 1)``;
* ``ALIGN_CORNERS_FALSE``: ``g_i = (i + 0.5) * Xin / Xout - 0.5`` (half-pixel centres).

and ``y = (1 - t) * x[floor(g)] + t * x[floor(g) + 1]`` with ``t = g - floor(g)``, along H then W.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError, UnsupportedLayerError

from ._common import where
from ._control_sampling import resize_rows
from .base import Built, LayerKind, Shape

BILINEAR = 1  # UpsampleLayerParams.InterpolationMode
LINEAR_MODES = {0: "DEFAULT", 1: "ALIGN_CORNERS_TRUE", 2: "ALIGN_CORNERS_FALSE"}


@dataclass(frozen=True)
class UpsampleAttrs:
    bilinear: bool
    linear_mode: str
    factors: tuple[float, float]
    out_hw: tuple[int, int]


def build(layer, in_shapes: list[Shape]) -> Built:
    if len(in_shapes) != 1:
        raise ShapeError(f"{where(layer)}: takes 1 input; got {len(in_shapes)}")
    params = layer.upsample
    bilinear = params.mode == BILINEAR
    linear_mode = LINEAR_MODES.get(params.linearUpsampleMode)
    if linear_mode is None:
        raise UnsupportedLayerError(
            f"{where(layer)}: unknown linearUpsampleMode {params.linearUpsampleMode}; "
            f"expected one of {list(LINEAR_MODES.values())}"
        )
    if not bilinear and linear_mode != "DEFAULT":
        raise UnsupportedLayerError(
            f"{where(layer)}: nearest-neighbour mode with linearUpsampleMode {linear_mode}; "
            "only DEFAULT goes with NN (Core ML's validator refuses the rest)"
        )
    if len(params.fractionalScalingFactor):
        if len(params.scalingFactor):
            raise ShapeError(
                f"{where(layer)}: sets both scalingFactor and "
                "fractionalScalingFactor; only one may be set"
            )
        if not bilinear or linear_mode == "DEFAULT":
            raise UnsupportedLayerError(
                f"{where(layer)}: fractionalScalingFactor needs BILINEAR mode with "
                "ALIGN_CORNERS_TRUE or ALIGN_CORNERS_FALSE"
            )
        factors = [float(f) for f in params.fractionalScalingFactor]
    else:
        factors = [float(f) for f in params.scalingFactor] or [1.0, 1.0]
    if len(factors) != 2 or min(factors) <= 0:
        raise ShapeError(
            f"{where(layer)}: scaling factors must be 2 positive values [H, W]; got {factors}"
        )
    height, width, channels = in_shapes[0]
    out_hw = (math.floor(height * factors[0]), math.floor(width * factors[1]))
    attrs = UpsampleAttrs(bilinear, linear_mode, (factors[0], factors[1]), out_hw)
    return Built(attrs, {}, [(out_hw[0], out_hw[1], channels)])


def grid(mode: str, size_in: int, size_out: int) -> np.ndarray:
    """The (clamped) input coordinate sampled by each output position, float64."""
    i = np.arange(size_out, dtype=np.float64)
    if mode == "ALIGN_CORNERS_TRUE":
        points = i * ((size_in - 1) / (size_out - 1)) if size_out > 1 else np.zeros(size_out)
    elif mode == "ALIGN_CORNERS_FALSE":
        points = (i + 0.5) * (size_in / size_out) - 0.5
    else:
        points = i * (size_in / size_out)
    return np.clip(points, 0.0, size_in - 1)


def forward(attrs: UpsampleAttrs, params, xs, keep=False, out=None):
    """Nearest-neighbour repeat or separable bilinear interpolation (module docstring)."""
    del params, keep, out
    x = xs[0]
    if not attrs.bilinear:
        y = np.repeat(np.repeat(x, int(attrs.factors[0]), axis=1), int(attrs.factors[1]), axis=2)
        return [y], None
    rows = grid(attrs.linear_mode, x.shape[1], attrs.out_hw[0])
    cols = grid(attrs.linear_mode, x.shape[2], attrs.out_hw[1])
    return [resize_rows(x, rows, cols)], None


KIND = LayerKind(oneof="upsample", build=build, forward=forward)
