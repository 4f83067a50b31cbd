"""Shared helpers of the layer tests: run one built layer, and NHWC <-> NCHW for torch."""

from __future__ import annotations

import numpy as np

from runtime.nn.layers import get_kind
from runtime.nn.layers.activation import with_activation
from tests.builders import single_layer_nn
from tests.optional import optional_import

torch = optional_import("torch")  # used only by tests marked needs("torch")

RTOL = 1e-10  # float64 layer vs float64 torch


def run_layer(oneof, layer, in_chw, x_nhwc, *, dtype=np.float64, out=None, fuse=None):
    """Build ``layer`` for input ``[C, H, W]``, forward ``x`` in ``dtype``; returns (y, built)."""
    kind = get_kind(oneof)
    c, h, w = in_chw
    built = kind.build(layer, [(h, w, c)])
    attrs = built.attrs if fuse is None else with_activation(built.attrs, fuse)
    params = {k: v.astype(dtype) for k, v in built.params.items()}
    ys, _ = kind.forward(attrs, params, [x_nhwc.astype(dtype)], False, out=out)
    assert ys[0].shape[1:] == tuple(built.out_shapes[0]), (ys[0].shape, built.out_shapes)
    return ys[0], built


def nchw(x):
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def nhwc(t):
    return t.permute(0, 2, 3, 1).numpy()


def weights_of(layer_params, field="weights"):
    return np.asarray(getattr(layer_params, field).floatValue, np.float64)


def torch_pads(kernel, stride, dilation, padding, h, w):
    """(top, bottom, left, right) padding of a Core ML valid/same convolution, for F.pad."""
    mode, detail = padding
    if mode == "valid":
        return detail
    pads = []
    for size, k, s, d in zip((h, w), kernel, stride, dilation, strict=True):
        out = -(-size // s)
        total = max(0, (out - 1) * s + (k - 1) * d + 1 - size)
        small = total // 2
        pads += [total - small, small] if detail == "TOP_LEFT_HEAVY" else [small, total - small]
    return tuple(pads)


def relu_layer(channels):
    layer, _ = single_layer_nn(
        (channels, 1, 1), lambda b, i, o: b.add_activation("relu", "RELU", i, o)
    )
    return layer
