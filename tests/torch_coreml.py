"""An independent PyTorch reading of Core ML neural networks, used as a numerical reference.

It interprets a ``Model`` protobuf directly with ``torch.nn.functional`` (NCHW, any dtype), for
the layer kinds of the test networks: convolution, innerProduct, activation, pooling, flatten,
softmax, concat. Nothing here is shared with the toolkit's runtime or its ONNX exporter.
"""

from __future__ import annotations

import numpy as np

from tests.optional import optional_import

# None without torch: only tests marked needs("torch") build a TorchNetwork
torch = optional_import("torch")
F = optional_import("torch.nn.functional")


def _values(weights) -> np.ndarray:
    if len(weights.floatValue):
        return np.asarray(weights.floatValue, dtype=np.float64)
    return np.frombuffer(weights.float16Value, dtype="<f2").astype(np.float64)


def _pads_same(size, kernel, stride):
    out = -(-size // stride)
    total = max(0, (out - 1) * stride + kernel - size)
    return total // 2, total - total // 2


class TorchNetwork:
    """Core ML layers run with torch; ``trainable`` layers' weights are leaf tensors with
    ``requires_grad`` (``params[(layer, field)]``)."""

    def __init__(self, spec, trainable=(), dtype=None):
        kind = spec.WhichOneof("Type")
        self.layers = list(getattr(spec, kind).layers)
        self.spec, self.dtype = spec, torch.float64 if dtype is None else dtype
        self.params: dict[tuple[str, str], torch.Tensor] = {}
        for layer in self.layers:
            which = layer.WhichOneof("layer")
            if which in ("convolution", "innerProduct"):
                p = getattr(layer, which)
                fields = ["weights"] + (["bias"] if p.hasBias else [])
                for field in fields:
                    tensor = torch.tensor(_values(getattr(p, field)), dtype=dtype)
                    tensor.requires_grad_(layer.name in trainable)
                    self.params[(layer.name, field)] = tensor

    def forward(self, feeds: dict[str, np.ndarray | torch.Tensor]) -> dict[str, torch.Tensor]:
        """Blob name -> NCHW tensor; multiArray feeds (N, C) or (N, C, H, W)."""
        blobs = {}
        for name, value in feeds.items():
            x = torch.as_tensor(np.asarray(value), dtype=self.dtype)
            blobs[name] = x.reshape(x.shape[0], -1, 1, 1) if x.ndim == 2 else x
        for layer in self.layers:
            xs = [blobs[name] for name in layer.input]
            blobs[layer.output[0]] = getattr(self, "_" + layer.WhichOneof("layer"))(layer, xs)
        return blobs

    def _convolution(self, layer, xs):
        p = layer.convolution
        w = self.params[(layer.name, "weights")]
        groups = max(1, p.nGroups)
        kh, kw = p.kernelSize or (3, 3)
        w = w.reshape(p.outputChannels, p.kernelChannels, kh, kw)
        b = self.params.get((layer.name, "bias"))
        stride = tuple(p.stride) or (1, 1)
        dil = tuple(p.dilationFactor) or (1, 1)
        x = xs[0]
        if p.WhichOneof("ConvolutionPaddingType") == "same":
            t, bo = _pads_same(x.shape[2], (kh - 1) * dil[0] + 1, stride[0])
            left, r = _pads_same(x.shape[3], (kw - 1) * dil[1] + 1, stride[1])
        else:
            e = p.valid.paddingAmounts.borderAmounts
            t, bo, left, r = (
                (e[0].startEdgeSize, e[0].endEdgeSize, e[1].startEdgeSize, e[1].endEdgeSize)
                if len(e)
                else (0, 0, 0, 0)
            )
        x = F.pad(x, (left, r, t, bo))
        return F.conv2d(x, w, b, stride=stride, dilation=dil, groups=groups)

    def _innerProduct(self, layer, xs):
        p = layer.innerProduct
        w = self.params[(layer.name, "weights")].reshape(p.outputChannels, p.inputChannels)
        y = xs[0].reshape(xs[0].shape[0], -1) @ w.T
        if p.hasBias:
            y = y + self.params[(layer.name, "bias")]
        return y.reshape(y.shape[0], -1, 1, 1)

    def _activation(self, layer, xs):
        kind = layer.activation.WhichOneof("NonlinearityType")
        return {"ReLU": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}[kind](xs[0])

    def _pooling(self, layer, xs):
        p = layer.pooling
        x = xs[0]
        if p.globalPooling:
            return x.amax((2, 3), keepdim=True) if p.type == p.MAX else x.mean((2, 3), True)
        k, s = tuple(p.kernelSize), tuple(p.stride)
        ceil = p.WhichOneof("PoolingPaddingType") == "includeLastPixel"
        pad = tuple(p.includeLastPixel.paddingAmounts) or (0, 0) if ceil else (0, 0)
        if p.type == p.MAX:
            return F.max_pool2d(x, k, s, padding=pad, ceil_mode=ceil)
        return F.avg_pool2d(
            x, k, s, padding=pad, ceil_mode=ceil, count_include_pad=not p.avgPoolExcludePadding
        )

    def _flatten(self, layer, xs):
        x = xs[0]
        if layer.flatten.mode == layer.flatten.CHANNEL_LAST:
            x = x.permute(0, 2, 3, 1)
        return x.reshape(x.shape[0], -1, 1, 1)

    def _softmax(self, layer, xs):
        return torch.softmax(xs[0], dim=1)

    def _concat(self, layer, xs):
        return torch.cat(xs, dim=1)
