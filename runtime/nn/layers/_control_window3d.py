"""Runtime, neural-network layer: sliding windows over depth, height and width, shared by
``convolution3d`` and ``pooling3d`` (nd blobs ``(N, ..., C, D, H, W)``).

Geometry, per spatial axis of input size ``X``, kernel ``k``, stride ``s``, dilation ``d``
(``k_eff = d * (k - 1) + 1``), from the ``PaddingType`` comments of
``Convolution3DLayerParams`` and ``Pooling3DLayerParams`` (NeuralNetwork.proto):

* ``VALID``: no padding, ``out = floor((X - k_eff) / s) + 1``;
* ``CUSTOM``: ``front``/``back`` (``top``/``bottom``, ``left``/``right``) zeros added first;
* ``SAME``: ``out = ceil(X / s)``, total padding ``max(0, (out - 1) * s + k_eff - X)``,
  ``floor(total / 2)`` before and the rest (the odd one) after. (The pooling comment says
  "the same spatial dimensions as the input", which is this rule at stride 1; at larger
  strides we follow the convolution's rule, which is also what converters mean by "same".)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from updatable.errors import ShapeError, UnsupportedLayerError

from ._common import where

CUSTOM, VALID, SAME = 0, 1, 2  # PaddingType / Pooling3DPaddingType
SIDES = (("Front", "Back"), ("Top", "Bottom"), ("Left", "Right"))


@dataclass(frozen=True)
class Window3D:
    kernel: tuple[int, int, int]
    stride: tuple[int, int, int]
    dilation: tuple[int, int, int]
    pads: tuple[tuple[int, int], ...]  # (before, after) per spatial axis
    out: tuple[int, int, int]


def positive(layer, values, what: str) -> tuple[int, int, int]:
    """Three positive integers (kernel, stride, dilation per depth, height, width)."""
    values = tuple(int(v) for v in values)
    if min(values) < 1:
        raise ShapeError(
            f"{where(layer)}: {what} (depth, height, width) must be positive; got {list(values)}"
        )
    return values  # type: ignore[return-value]


def custom_pads(layer, params) -> tuple[tuple[int, int], ...]:
    """The ``customPadding*`` fields as ``(before, after)`` per axis, refusing negatives."""
    pads = tuple(
        (int(getattr(params, f"customPadding{a}")), int(getattr(params, f"customPadding{b}")))
        for a, b in SIDES
    )
    if min(min(pair) for pair in pads) < 0:
        raise ShapeError(f"{where(layer)}: custom paddings must be non-negative; got {pads}")
    return pads


def window(layer, params, spatial, kernel, stride, dilation=(1, 1, 1)) -> Window3D:
    """The geometry of a 3-D window over ``spatial = (D, H, W)`` (module docstring)."""
    padding = int(params.paddingType)
    if padding not in (CUSTOM, VALID, SAME):
        raise UnsupportedLayerError(
            f"{where(layer)}: unknown paddingType {padding}; expected "
            "CUSTOM (0), VALID (1) or SAME (2)"
        )
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True)]
    if padding == SAME:
        out = tuple(-(-x // s) for x, s in zip(spatial, stride, strict=True))
        totals = [
            max(0, (o - 1) * s + k - x)
            for o, s, k, x in zip(out, stride, spans, spatial, strict=True)
        ]
        pads = tuple((t // 2, t - t // 2) for t in totals)
    else:
        pads = custom_pads(layer, params) if padding == CUSTOM else ((0, 0),) * 3
        out = tuple(
            (x + a + b - k) // s + 1
            for x, (a, b), k, s in zip(spatial, pads, spans, stride, strict=True)
        )
    if min(out) < 1:
        raise ShapeError(
            f"{where(layer)}: the window does not fit the input [D, H, W] = "
            f"{list(spatial)} (output would be {list(out)})"
        )
    return Window3D(kernel, stride, dilation, pads, out)


def patches(x: np.ndarray, win: Window3D, fill: float = 0.0) -> np.ndarray:
    """``(M, C, D, H, W)`` -> the view ``(M, C, D', H', W', kd, kh, kw)`` of every window
    (padded with ``fill``)."""
    padded = np.pad(x, ((0, 0), (0, 0), *win.pads), constant_values=fill)
    spans = [d * (k - 1) + 1 for k, d in zip(win.kernel, win.dilation, strict=True)]
    views = sliding_window_view(padded, spans, axis=(2, 3, 4))
    (sd, sh, sw), (dd, dh, dw) = win.stride, win.dilation
    od, oh, ow = win.out
    return views[:, :, : od * sd : sd, : oh * sh : sh, : ow * sw : sw, ::dd, ::dh, ::dw]


def transpose_geometry(layer, params, spatial, kernel, stride, dilation):
    """A 3-D transposed convolution (``convolution3d`` with ``isDeconvolution``): the stride-1
    convolution over the zero-stuffed input, and ``(stride, crop before, output size)``."""
    full = [
        (x - 1) * s + d * (k - 1) + 1
        for x, s, k, d in zip(spatial, stride, kernel, dilation, strict=True)
    ]
    padding = int(params.paddingType)
    pads = custom_pads(layer, params) if padding == CUSTOM else ((0, 0),) * 3
    if padding == SAME:
        pads = tuple(
            ((f - x * s) // 2 if f > x * s else 0, 0)
            for f, x, s in zip(full, spatial, stride, strict=True)
        )
    if len(params.outputShape):
        out = tuple(int(v) for v in params.outputShape)
    elif padding == SAME:
        out = tuple(x * s for x, s in zip(spatial, stride, strict=True))
    else:
        out = tuple(f - a - b for f, (a, b) in zip(full, pads, strict=True))
    if len(out) != 3 or min(out) < 1:
        raise ShapeError(
            f"{where(layer)}: the output [D, H, W] would be {list(out)}; expected 3 positive sizes"
        )
    edge = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
    win = Window3D(kernel, (1, 1, 1), dilation, tuple((e, e) for e in edge), tuple(full))
    return win, (stride, tuple(a for a, _ in pads), out)
