"""Runtime, neural-network layer: sliding-window geometry of convolution, deconvolution and pooling
layers.

The rules are Core ML's, from the comments of ``ValidPadding``, ``SamePadding``,
``ConvolutionLayerParams`` and ``PoolingLayerParams`` in ``NeuralNetwork.proto``:

* ``valid``: ``H_out = floor((H_in + top + bottom - K) / stride) + 1`` with explicit
  ``paddingAmounts`` (``borderAmounts[0]`` is H, ``[1]`` is W);
* ``same``: ``H_out = ceil(H_in / stride)``; the total padding
  ``max(0, (H_out - 1) * stride + K - H_in)`` is split ``floor(total / 2)`` before and the rest
  after (``BOTTOM_RIGHT_HEAVY``), or the other way round (``TOP_LEFT_HEAVY``);
* pooling ``includeLastPixel`` (symmetric ``paddingAmounts = [pad_h, pad_w]``):
  ``H_out = ceil((H_in + 2 pad_h - K) / stride) + 1``, minus one when any padding is set and
  ``(H_out - 1) * stride >= H_in + pad_h`` (the last window must start inside the input);
* dilation enlarges the kernel to ``(K - 1) * dilation + 1`` (convolution only);
* deconvolution: ``valid`` gives ``(H_in - 1) * stride + K - (top + bottom)``, cropping
  ``top`` rows; ``same`` gives ``H_in * stride``, cropping by the same split of
  ``K - stride``; an explicit ``outputShape`` wins over both (the proto says the padding type
  is then ignored) and is cropped ``floor(total / 2)`` before, where
  ``total = (H_in - 1) * stride + K - H_out``; we chose that split because it equals the
  ``valid`` and ``same`` crops whenever those produce the same ``outputShape``.
"""

from __future__ import annotations

from dataclasses import dataclass

from updatable.errors import ShapeError, UnsupportedLayerError

from ._common import where


@dataclass(frozen=True)
class Window:
    kernel: tuple[int, int]  # (kh, kw), undilated
    stride: tuple[int, int]
    dilation: tuple[int, int]
    pads: tuple[int, int, int, int]  # (top, bottom, left, right); deconvolution: crops
    out_hw: tuple[int, int]


def _pair(values, default: tuple[int, int], layer, field: str) -> tuple[int, int]:
    if len(values) == 0:
        return default
    if len(values) != 2 or min(values) < 1:
        raise ShapeError(
            f"{where(layer)}: {field} must be two positive integers [H, W]; got {list(values)}"
        )
    return int(values[0]), int(values[1])


def _valid_pads(layer, valid) -> tuple[int, int, int, int]:
    amounts = valid.paddingAmounts.borderAmounts
    if len(amounts) == 0:
        return 0, 0, 0, 0
    if len(amounts) != 2:
        raise ShapeError(
            f"{where(layer)}: valid.paddingAmounts must have 2 entries [H, W]; got {len(amounts)}"
        )
    h, w = amounts
    return int(h.startEdgeSize), int(h.endEdgeSize), int(w.startEdgeSize), int(w.endEdgeSize)


def _split(total: int, top_left_heavy: bool) -> tuple[int, int]:
    small = total // 2
    return (total - small, small) if top_left_heavy else (small, total - small)


def _same(size: int, k_eff: int, stride: int, top_left_heavy: bool) -> tuple[int, int, int]:
    out = -(-size // stride)
    before, after = _split(max(0, (out - 1) * stride + k_eff - size), top_left_heavy)
    return out, before, after


def _check_positive(layer, out_hw, in_hw) -> tuple[int, int]:
    if min(out_hw) < 1:
        raise ShapeError(
            f"{where(layer)}: the window does not fit the input [H, W] = {list(in_hw)} "
            f"(output would be {list(out_hw)})"
        )
    return int(out_hw[0]), int(out_hw[1])


def conv_window(layer, params, in_hw: tuple[int, int]) -> Window:
    """Geometry of a (non-transposed) convolution layer over an input of spatial size ``in_hw``."""
    kernel = _pair(params.kernelSize, (3, 3), layer, "kernelSize")
    stride = _pair(params.stride, (1, 1), layer, "stride")
    dilation = _pair(params.dilationFactor, (1, 1), layer, "dilationFactor")
    k_eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilation, strict=True)]
    if params.WhichOneof("ConvolutionPaddingType") == "same":
        heavy = params.same.asymmetryMode == params.same.TOP_LEFT_HEAVY
        ho, top, bottom = _same(in_hw[0], k_eff[0], stride[0], heavy)
        wo, left, right = _same(in_hw[1], k_eff[1], stride[1], heavy)
        return Window(kernel, stride, dilation, (top, bottom, left, right), (ho, wo))
    pads = _valid_pads(layer, params.valid)
    ho = (in_hw[0] + pads[0] + pads[1] - k_eff[0]) // stride[0] + 1
    wo = (in_hw[1] + pads[2] + pads[3] - k_eff[1]) // stride[1] + 1
    return Window(kernel, stride, dilation, pads, _check_positive(layer, (ho, wo), in_hw))


def deconv_window(layer, params, in_hw: tuple[int, int]) -> Window:
    """Geometry of a deconvolution: ``pads`` are the rows/columns cropped from the full
    ``(H_in - 1) * stride + K`` output (dilation is ignored, as the proto says)."""
    kernel = _pair(params.kernelSize, (3, 3), layer, "kernelSize")
    stride = _pair(params.stride, (1, 1), layer, "stride")
    full = [(size - 1) * s + k for size, s, k in zip(in_hw, stride, kernel, strict=True)]
    if len(params.outputShape):
        out = _pair(params.outputShape, (0, 0), layer, "outputShape")
        top, left = (max(f - o, 0) // 2 for f, o in zip(full, out, strict=True))
        pads = (top, max(full[0] - out[0] - top, 0), left, max(full[1] - out[1] - left, 0))
    elif params.WhichOneof("ConvolutionPaddingType") == "same":
        heavy = params.same.asymmetryMode == params.same.TOP_LEFT_HEAVY
        out = (in_hw[0] * stride[0], in_hw[1] * stride[1])
        top, bottom = _split(max(kernel[0] - stride[0], 0), heavy)
        left, right = _split(max(kernel[1] - stride[1], 0), heavy)
        pads = (top, bottom, left, right)
    else:
        pads = _valid_pads(layer, params.valid)
        out = (full[0] - pads[0] - pads[1], full[1] - pads[2] - pads[3])
    return Window(kernel, stride, (1, 1), pads, _check_positive(layer, out, in_hw))


def pool_window(layer, params, in_hw: tuple[int, int]) -> Window:
    """Geometry of a pooling layer (``globalPooling`` covers the whole input)."""
    if params.globalPooling:
        return Window(in_hw, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1))
    kernel = _pair(params.kernelSize, (3, 3), layer, "kernelSize")
    stride = _pair(params.stride, (1, 1), layer, "stride")
    padding = params.WhichOneof("PoolingPaddingType")
    if padding == "same":
        heavy = params.same.asymmetryMode == params.same.TOP_LEFT_HEAVY
        ho, top, bottom = _same(in_hw[0], kernel[0], stride[0], heavy)
        wo, left, right = _same(in_hw[1], kernel[1], stride[1], heavy)
        return Window(kernel, stride, (1, 1), (top, bottom, left, right), (ho, wo))
    if padding == "includeLastPixel":
        amounts = list(params.includeLastPixel.paddingAmounts) or [0, 0]
        if len(amounts) != 2:
            raise UnsupportedLayerError(
                f"{where(layer)}: includeLastPixel.paddingAmounts must be [pad_h, pad_w]; got "
                f"{amounts}"
            )
        pad_h, pad_w = int(amounts[0]), int(amounts[1])
        out = []
        for size, k, s, pad in zip(in_hw, kernel, stride, (pad_h, pad_w), strict=True):
            o = -(-(size + 2 * pad - k) // s) + 1
            if (pad_h > 0 or pad_w > 0) and (o - 1) * s >= size + pad:
                o -= 1
            out.append(o)
        pads = (pad_h, pad_h, pad_w, pad_w)
        return Window(kernel, stride, (1, 1), pads, _check_positive(layer, out, in_hw))
    pads = _valid_pads(layer, params.valid)
    ho = (in_hw[0] + pads[0] + pads[1] - kernel[0]) // stride[0] + 1
    wo = (in_hw[1] + pads[2] + pads[3] - kernel[1]) // stride[1] + 1
    return Window(kernel, stride, (1, 1), pads, _check_positive(layer, (ho, wo), in_hw))
