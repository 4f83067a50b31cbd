"""Runtime, neural-network layer: Core ML ``cropResize`` layer: boxes cut out of a feature map and
resized to ``targetSize`` by bilinear interpolation (RoI align without the pooling).

``CropResizeLayerParams`` (NeuralNetwork.proto, Core ML 3): input 1 ``[1, B, C, H, W]``,
input 2 the ``N`` boxes ``[N, 1, 4, 1, 1]`` (each cut from all ``B`` images: output ``[N, B,
C, H_out, W_out]``) or ``[N, 1, 5, 1, 1]`` (the first value picks the image: output ``[N, 1,
C, H_out, W_out]``). A box's four values are read per ``boxIndicesMode``
(``[h1, w1, h2, w2]``, ``[w1, h1, w2, h2]``, ``[hc, wc, h, w]``, ``[wc, hc, w, h]``), times
``(H - 1, W - 1)`` when ``normalizedCoordinates``, times ``spatialScale``. Output row ``i``
samples the image at grid point ``g_i`` of ``mode.samplingMethod`` over the box's interval
``[h1, h2]`` (``runtime.nn.layers._control_sampling``; ``ROI_ALIGN_MODE`` gives torchvision's
``roi_align`` points), columns likewise over ``[w1, w2]``.

Readings of what the proto leaves open (pinned by tests/test_layers_resampling.py): a grid
point outside the image ``[0, H - 1] x [0, W - 1]`` reads 0 (TensorFlow's
``crop_and_resize`` with its default extrapolation value, the converters' source of this
layer); a ``spatialScale`` of 0 (unset) means 1; an image index is rounded down and must lie
in ``[0, B - 1]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError, UnsupportedLayerError

from ._common import where
from ._control_sampling import grid, taps
from ._nd_axes import input_count
from .base import ND, Built, CoreMLShape, LayerKind
from .resizeBilinear import sampling_method, target_size

# BoxCoordinatesMode -> (positions of the four values as h1, w1, h2, w2), centre-size or not
BOX_MODES = {
    0: ((0, 1, 2, 3), False),
    1: ((1, 0, 3, 2), False),
    2: ((0, 1, 2, 3), True),
    3: ((1, 0, 3, 2), True),
}


@dataclass(frozen=True)
class CropResizeAttrs:
    method: int
    out_hw: tuple[int, int]
    box_mode: int
    scale: tuple[float, float]  # multiplies h and w coordinates
    with_index: bool  # boxes hold an image index first
    name: str  # "layer 'x' (cropResize)", for run-time errors


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    input_count(layer, in_shapes, 2)
    image, boxes = (tuple(s) for s in in_shapes)
    if len(image) != 5 or image[0] != 1:
        raise ShapeError(f"{where(layer)}: input 1 must be [1, B, C, H, W]; got {list(image)}")
    if len(boxes) != 5 or boxes[1] != 1 or boxes[2] not in (4, 5) or boxes[3:] != (1, 1):
        raise ShapeError(
            f"{where(layer)}: the boxes must be [N, 1, 4, 1, 1] or [N, 1, 5, 1, 1];"
            f" got {list(boxes)}"
        )
    params = layer.cropResize
    if params.boxIndicesMode.boxMode not in BOX_MODES:
        raise UnsupportedLayerError(
            f"{where(layer)}: unknown boxIndicesMode "
            f"{params.boxIndicesMode.boxMode}; expected 0 to 3"
        )
    out_hw = target_size(layer, params.targetSize)
    spatial = float(params.spatialScale) or 1.0
    _, count, channels, height, width = image
    scale = (
        ((height - 1) * spatial, (width - 1) * spatial)
        if params.normalizedCoordinates
        else (spatial, spatial)
    )
    with_index = boxes[2] == 5
    attrs = CropResizeAttrs(
        sampling_method(layer, params.mode),
        out_hw,
        int(params.boxIndicesMode.boxMode),
        scale,
        with_index,
        where(layer),
    )
    out = (boxes[0], 1 if with_index else count, channels, *out_hw)
    return Built(attrs, {}, [out])


def corners(attrs: CropResizeAttrs, values: np.ndarray) -> tuple[np.ndarray, ...]:
    """``(h1, w1, h2, w2)`` of boxes ``(..., 4)`` in pixel coordinates."""
    order, centred = BOX_MODES[attrs.box_mode]
    a, b, c, d = (values[..., k] for k in order)
    if centred:  # centre and size
        a, b, c, d = a - c / 2, b - d / 2, a + c / 2, b + d / 2
    return a * attrs.scale[0], b * attrs.scale[1], c * attrs.scale[0], d * attrs.scale[1]


def forward(attrs: CropResizeAttrs, params, xs, keep=False, out=None):
    """Per example and box: bilinear samples on the box's grid, 0 outside the image."""
    del params, keep, out
    x, rois = xs
    examples, _, count, channels, height, width = x.shape
    images = x.reshape(examples * count, channels, height, width)
    rois = rois.reshape(examples, rois.shape[1], -1).astype(np.float64)
    first = (np.arange(examples) * count)[:, None, None]
    if attrs.with_index:
        index = np.floor(rois[..., :1])
        if ((index < 0) | (index > count - 1)).any():
            raise ShapeError(
                f"{attrs.name}: an image index is out of range; expected values in [0, {count - 1}]"
            )
        image_index = first + index.astype(np.intp)  # (E, N, 1)
        rois = rois[..., 1:]
    else:
        image_index = first + np.arange(count)[None, None, :]  # (E, N, B)
    h1, w1, h2, w2 = corners(attrs, rois)
    row_lo, row_hi, row_t, row_in = taps(grid(attrs.method, h1, h2 - h1, attrs.out_hw[0]), height)
    col_lo, col_hi, col_t, col_in = taps(grid(attrs.method, w1, w2 - w1, attrs.out_hw[1]), width)
    pick = image_index[..., None, None]  # (E, N, B', 1, 1)

    def at(rows, cols):  # (E, N, B', H_out, W_out, C)
        return images[pick, :, rows[:, :, None, :, None], cols[:, :, None, None, :]]

    row_t = row_t[:, :, None, :, None, None].astype(x.dtype)
    col_t = col_t[:, :, None, None, :, None].astype(x.dtype)
    top = at(row_lo, col_lo) * (1 - col_t) + at(row_lo, col_hi) * col_t
    bottom = at(row_hi, col_lo) * (1 - col_t) + at(row_hi, col_hi) * col_t
    y = top * (1 - row_t) + bottom * row_t
    inside = row_in[:, :, None, :, None, None] & col_in[:, :, None, None, :, None]
    y = np.where(inside, y, 0).astype(x.dtype)
    return [np.ascontiguousarray(np.moveaxis(y, -1, 3))], None


KIND = LayerKind("cropResize", build, forward, layouts=(ND,))
