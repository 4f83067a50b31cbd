"""Runtime, neural-network layer: Core ML ``resizeBilinear`` layer: H and W resized to
``targetSize`` by bilinear interpolation.

``ResizeBilinearLayerParams`` (NeuralNetwork.proto, Core ML 3): input of rank 3 or more, the
axes before ``[C, H, W]`` treated as batch; output ``[..., C, H_out, W_out]`` with
``targetSize = [H_out, W_out]`` (``[1, 1]`` when unset). Row ``i`` of the output samples the
input at grid point ``g_i`` of ``mode.samplingMethod`` over ``[0, H_in - 1]`` (the four
methods in ``runtime.nn.layers._control_sampling``), column ``j`` likewise over W:

    y[c, i, j] = bilinear(x[c], g_i, g_j)

``STRICT_ALIGN_ENDPOINTS_MODE`` is torch's ``interpolate(mode="bilinear",
align_corners=True)``; ``UPSAMPLE_MODE`` is TensorFlow 1's ``resize_bilinear`` without half
pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

from updatable.errors import ShapeError, UnsupportedLayerError

from ._common import where
from ._control_sampling import METHODS, grid, resize_rows
from .base import Built, LayerKind, Shape


@dataclass(frozen=True)
class ResizeAttrs:
    method: int
    out_hw: tuple[int, int]


def target_size(layer, sizes, what: str = "targetSize") -> tuple[int, int]:
    """``[H_out, W_out]`` of positive sizes (``[1, 1]`` when unset)."""
    dims = [int(d) for d in sizes] or [1, 1]
    if len(dims) != 2 or min(dims) < 1:
        raise ShapeError(f"{where(layer)}: {what} must be 2 positive sizes [H, W]; got {dims}")
    return dims[0], dims[1]


def sampling_method(layer, mode) -> int:
    method = int(mode.samplingMethod)
    if method not in METHODS:
        raise UnsupportedLayerError(
            f"{where(layer)}: unknown sampling method {method}; expected one of "
            f"{list(METHODS.values())}"
        )
    return method


def build(layer, in_shapes: list[Shape]) -> Built:
    if len(in_shapes) != 1:
        raise ShapeError(f"{where(layer)}: takes 1 input; got {len(in_shapes)}")
    params = layer.resizeBilinear
    out_hw = target_size(layer, params.targetSize)
    method = sampling_method(layer, params.mode)
    channels = in_shapes[0][2]
    return Built(ResizeAttrs(method, out_hw), {}, [(*out_hw, channels)])


def forward(attrs: ResizeAttrs, params, xs, keep=False, out=None):
    """Separable bilinear sampling on the grids of the mode (module docstring)."""
    del params, keep, out
    x = xs[0]
    height, width = x.shape[1:3]
    rows = grid(attrs.method, 0.0, height - 1, attrs.out_hw[0])
    cols = grid(attrs.method, 0.0, width - 1, attrs.out_hw[1])
    return [resize_rows(x, rows, cols)], None


KIND = LayerKind("resizeBilinear", build, forward)
