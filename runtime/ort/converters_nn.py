"""Runtime, ONNX layer: ONNX converters for Core ML's compute layers: convolution, innerProduct,
batchnorm, activation, pooling, softmax, flatten, lrn, l2normalize.

Each converter has the signature ``convert(g, layer, xs, shapes, ys) -> out_shapes``: it reads
the layer's parameters from the ``NeuralNetworkLayer`` proto, emits ONNX nodes into the
:class:`~runtime.ort.onnx_graph.GraphBuilder` ``g`` reading the ONNX values ``xs`` (per-example
shapes ``shapes``, Core ML ``(C, H, W)``) and writing ``ys``, and returns the output shapes.
Formulas and padding rules follow the comments of Core ML's ``NeuralNetwork.proto``.

Layer weights become initializers named ``"<layer>.<field>"`` (``dense.weights``,
``dense.bias``); Core ML's convolution ``[Cout, Cin/groups, kH, kW]`` and inner-product
``[Cout, Cin]`` layouts are ONNX's own, so the values are stored unchanged.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from runtime.ort import weights as wp
from runtime.ort.onnx_graph import CHW, GraphBuilder
from updatable.errors import UnsupportedLayerError


def _pair(values, default: int) -> tuple[int, int]:
    return (int(values[0]), int(values[1])) if len(values) == 2 else (default, default)


def border_amounts(amounts) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of a ``BorderAmounts``; missing entries are 0."""
    edges = list(amounts.borderAmounts)
    h = (edges[0].startEdgeSize, edges[0].endEdgeSize) if len(edges) > 0 else (0, 0)
    w = (edges[1].startEdgeSize, edges[1].endEdgeSize) if len(edges) > 1 else (0, 0)
    return int(h[0]), int(w[0]), int(h[1]), int(w[1])


def _same_pads(size: int, kernel: int, stride: int, top_left_heavy: bool) -> tuple[int, int]:
    """SamePadding: out = ceil(in / stride), total = max(0, (out-1)*stride + kernel - in)."""
    out = -(-size // stride)
    total = max(0, (out - 1) * stride + kernel - size)
    small = total // 2
    return (total - small, small) if top_left_heavy else (small, total - small)


def _spatial_pads(params, shape: CHW, kernel, stride, dilation=(1, 1)) -> list[int]:
    """ONNX ``pads`` [top, left, bottom, right] for a valid or same padding."""
    which = params.WhichOneof(
        "ConvolutionPaddingType" if hasattr(params, "isDeconvolution") else "PoolingPaddingType"
    )
    if which == "same":
        heavy = params.same.asymmetryMode == params.same.TOP_LEFT_HEAVY
        effective = [(k - 1) * d + 1 for k, d in zip(kernel, dilation, strict=True)]
        (t, b), (left, r) = (
            _same_pads(shape[1 + i], effective[i], stride[i], heavy) for i in range(2)
        )
        return [t, left, b, r]
    if which == "valid":
        return list(border_amounts(params.valid.paddingAmounts))
    return [0, 0, 0, 0]


def _window_out(size: int, pad: int, kernel: int, stride: int) -> int:
    return (size + pad - kernel) // stride + 1


def convolution(g: GraphBuilder, layer, xs, shapes, ys) -> list[CHW]:
    p = layer.convolution
    (cin, h, w), groups = shapes[0], max(1, int(p.nGroups))
    kernel, stride = _pair(p.kernelSize, 3), _pair(p.stride, 1)
    dilation = _pair(p.dilationFactor, 1)
    cout = int(p.outputChannels)
    if p.isDeconvolution:
        if p.outputShape or p.WhichOneof("ConvolutionPaddingType") == "same":
            raise UnsupportedLayerError(
                f"layer '{layer.name}' is a deconvolution with 'same' padding or an explicit "
                "outputShape; the ONNX export supports deconvolution with valid padding only"
            )
        shape = (cin, cout // groups, *kernel)
        op, dilation = "ConvTranspose", (1, 1)  # Core ML ignores dilation in deconvolution
    else:
        shape, op = (cout, cin // groups, *kernel), "Conv"
    weights = wp.read(p.weights, math.prod(shape), f"the weights of layer '{layer.name}'")
    inputs = [xs[0], g.param(f"{layer.name}.weights", weights.reshape(shape))]
    if p.hasBias:
        bias = wp.read(p.bias, cout, f"the bias of layer '{layer.name}'")
        inputs.append(g.param(f"{layer.name}.bias", bias))
    pads = _spatial_pads(p, shapes[0], kernel, stride, dilation)
    g.node(
        op,
        inputs,
        ys[0],
        kernel_shape=list(kernel),
        strides=list(stride),
        dilations=list(dilation),
        group=groups,
        pads=pads,
    )
    if p.isDeconvolution:  # H_out = (H_in - 1) * stride + kernel - padding
        return [
            (
                cout,
                (h - 1) * stride[0] + kernel[0] - pads[0] - pads[2],
                (w - 1) * stride[1] + kernel[1] - pads[1] - pads[3],
            )
        ]
    eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilation, strict=True)]
    return [
        (
            cout,
            _window_out(h, pads[0] + pads[2], eff[0], stride[0]),
            _window_out(w, pads[1] + pads[3], eff[1], stride[1]),
        )
    ]


def inner_product(g: GraphBuilder, layer, xs, shapes, ys) -> list[CHW]:
    """y = W x + b over each example's flattened ``C*H*W`` (proto: rank 4 -> (x1, x2*x3*x4))."""
    p = layer.innerProduct
    cin, cout = int(p.inputChannels), int(p.outputChannels)
    if math.prod(shapes[0]) != cin:
        raise UnsupportedLayerError(
            f"layer '{layer.name}' (innerProduct) expects {cin} input values per example, got "
            f"a blob of shape [C, H, W] = {list(shapes[0])}"
        )
    if p.int8DynamicQuantize:
        raise UnsupportedLayerError(f"layer '{layer.name}' uses int8 dynamic quantization")
    weights = wp.read(p.weights, cin * cout, f"the weights of layer '{layer.name}'")
    inputs = [
        g.node("Flatten", [xs[0]], axis=1),
        g.param(f"{layer.name}.weights", weights.reshape(cout, cin)),
    ]
    if p.hasBias:
        inputs.append(
            g.param(
                f"{layer.name}.bias", wp.read(p.bias, cout, f"the bias of layer '{layer.name}'")
            )
        )
    g.reshape(g.node("Gemm", inputs, transB=1), [0, cout, 1, 1], ys[0])
    return [(cout, 1, 1)]


def batchnorm(g: GraphBuilder, layer, xs, shapes, ys) -> list[CHW]:
    """y = gamma (x - mean) / sqrt(var + eps) + beta per channel (eps defaults to 1e-5)."""
    p = layer.batchnorm
    c, eps = int(p.channels), float(p.epsilon) or 1e-5
    gamma, beta = (
        g.param(f"{layer.name}.{f}", wp.read(getattr(p, f), c, f"'{layer.name}' {f}"))
        for f in ("gamma", "beta")
    )
    if p.computeMeanVar and p.instanceNormalization:
        g.node("InstanceNormalization", [xs[0], gamma, beta], ys[0], epsilon=eps)
    elif p.computeMeanVar:  # statistics of the whole batch, per channel
        mean = g.node("ReduceMean", [xs[0]], axes=[0, 2, 3])
        centered = g.node("Sub", [xs[0], mean])
        var = g.node("ReduceMean", [g.node("Mul", [centered, centered])], axes=[0, 2, 3])
        std = g.node("Sqrt", [g.node("Add", [var, g.const(eps)])])
        scaled = g.node("Mul", [g.node("Div", [centered, std]), g.reshape(gamma, [c, 1, 1])])
        g.node("Add", [scaled, g.reshape(beta, [c, 1, 1])], ys[0])
    else:
        stats = [
            g.param(f"{layer.name}.{f}", wp.read(getattr(p, f), c, f"'{layer.name}' {f}"))
            for f in ("mean", "variance")
        ]
        g.node("BatchNormalization", [xs[0], gamma, beta, *stats], ys[0], epsilon=eps)
    return [shapes[0]]


def _channel_param(g, layer, weights, field, c) -> str:
    """A per-channel activation parameter of length C or 1, shaped to broadcast over C."""
    n = len(weights.floatValue) or (len(weights.float16Value) // 2)
    values = wp.read(weights, n, f"the {field} of layer '{layer.name}'")
    if n not in (1, c):
        raise UnsupportedLayerError(
            f"layer '{layer.name}' {field} has {n} values; expected 1 or C = {c}"
        )
    return g.param(f"{layer.name}.{field}", values.reshape(n, 1, 1))


def activation(g: GraphBuilder, layer, xs, shapes, ys) -> list[CHW]:
    a = layer.activation
    kind = a.WhichOneof("NonlinearityType")
    params: Any = getattr(a, kind) if kind else None  # the kind's message (protobuf: untyped)
    x, y = xs[0], ys[0]
    simple = {
        "ReLU": "Relu",
        "tanh": "Tanh",
        "sigmoid": "Sigmoid",
        "softsign": "Softsign",
        "softplus": "Softplus",
    }
    if kind in simple:
        g.node(simple[kind], [x], y)
    elif kind == "linear":  # alpha x + beta
        g.node("Add", [g.node("Mul", [x, g.const(params.alpha)]), g.const(params.beta)], y)
    elif kind == "leakyReLU":
        g.node("LeakyRelu", [x], y, alpha=params.alpha)
    elif kind == "thresholdedReLU":
        g.node("ThresholdedRelu", [x], y, alpha=params.alpha)
    elif kind == "ELU":
        g.node("Elu", [x], y, alpha=params.alpha)
    elif kind == "sigmoidHard":  # min(max(alpha x + beta, 0), 1)
        g.node("HardSigmoid", [x], y, alpha=params.alpha, beta=params.beta)
    elif kind == "scaledTanh":  # alpha tanh(beta x)
        inner = g.node("Tanh", [g.node("Mul", [x, g.const(params.beta)])])
        g.node("Mul", [inner, g.const(params.alpha)], y)
    elif kind == "PReLU":
        g.node("PRelu", [x, _channel_param(g, layer, params.alpha, "alpha", shapes[0][0])], y)
    elif kind == "parametricSoftplus":  # alpha_c log(1 + exp(beta_c x))
        alpha = _channel_param(g, layer, params.alpha, "alpha", shapes[0][0])
        beta = _channel_param(g, layer, params.beta, "beta", shapes[0][0])
        g.node("Mul", [g.node("Softplus", [g.node("Mul", [x, beta])]), alpha], y)
    else:
        raise UnsupportedLayerError(f"layer '{layer.name}' has no activation function set")
    return [shapes[0]]


def _include_last_pixel_pads(p, shape: CHW, kernel, stride) -> list[int]:
    """Pads for ``includeLastPixel``: symmetric padding and a rounded-up output size.

    H_out = ceil((H + 2 pad - k) / s) + 1, minus one when padded and the last window would
    start at or after H + pad (proto comment); the extra end padding realises the round-up.
    """
    amounts = _pair(p.includeLastPixel.paddingAmounts, 0)
    pads = [amounts[0], amounts[1], 0, 0]
    for i in range(2):
        size, pad, k, s = shape[1 + i], amounts[i], kernel[i], stride[i]
        out = -(-(size + 2 * pad - k) // s) + 1
        if any(amounts) and (out - 1) * s >= size + pad:
            out -= 1
        pads[2 + i] = (out - 1) * s + k - size - pad
    return pads


def _window_counts(out: int, stride: int, pad: int, kernel: int, low: int, high: int):
    """Per output position, how many rows of its window lie in ``[low, high)`` (input
    coordinates: real rows are ``[0, size)``)."""
    starts = np.arange(out) * stride - pad
    return np.minimum(starts + kernel, high) - np.maximum(starts, low)


def pooling(g: GraphBuilder, layer, xs, shapes, ys) -> list[CHW]:
    """MAX, AVERAGE or L2 pooling with valid, same or includeLastPixel padding, or global.

    Average pooling divides by the number of real pixels under the window when
    ``avgPoolExcludePadding``, else by the kernel area, except that with includeLastPixel the
    round-up overflow past the symmetric padding never counts (Caffe's rule, as the runtime).
    The divisor is applied as a constant map after an include-padding AveragePool: ORT's
    graph optimiser fuses a preceding zero Pad into an AveragePool even when that pool
    excludes padding, which would change an exclude-padding pool's result.
    """
    p = layer.pooling
    c, h, w = shapes[0]
    kind = p.PoolingType.Name(p.type)
    if p.globalPooling:
        op = {"MAX": "GlobalMaxPool", "AVERAGE": "GlobalAveragePool", "L2": "GlobalLpPool"}[kind]
        g.node(op, [xs[0]], ys[0], **({"p": 2} if kind == "L2" else {}))
        return [(c, 1, 1)]
    kernel, stride = _pair(p.kernelSize, 3), _pair(p.stride, 1)
    last_pixel = p.WhichOneof("PoolingPaddingType") == "includeLastPixel"
    if last_pixel:
        pads = _include_last_pixel_pads(p, shapes[0], kernel, stride)
    else:
        pads = _spatial_pads(p, shapes[0], kernel, stride)
    out = (
        c,
        _window_out(h, pads[0] + pads[2], kernel[0], stride[0]),
        _window_out(w, pads[1] + pads[3], kernel[1], stride[1]),
    )
    attrs: dict[str, Any] = {"kernel_shape": list(kernel), "strides": list(stride), "pads": pads}
    if kind == "MAX":
        g.node("MaxPool", [xs[0]], ys[0], **attrs)
    elif kind == "L2":
        g.node("LpPool", [xs[0]], ys[0], p=2, **attrs)
    else:
        counts = []
        for axis, size in enumerate((h, w)):
            pad = pads[axis]
            if p.avgPoolExcludePadding:
                low, high = 0, size
            elif last_pixel:  # the symmetric padding counts, the overflow does not
                low, high = -pad, size + pad
            else:
                low, high = -pad, size + pads[axis + 2]
            counts.append(_window_counts(out[1 + axis], stride[axis], pad, kernel[axis], low, high))
        factor = kernel[0] * kernel[1] / np.outer(*counts)
        if np.all(factor == 1.0):
            g.node("AveragePool", [xs[0]], ys[0], count_include_pad=1, **attrs)
        else:
            pooled = g.node("AveragePool", [xs[0]], count_include_pad=1, **attrs)
            g.node("Mul", [pooled, g.const(factor)], ys[0])
    return [out]


def softmax(g: GraphBuilder, layer, xs, shapes, ys) -> list[CHW]:
    """Softmax over the channel axis (axis -3) at every spatial position."""
    g.node("Softmax", [xs[0]], ys[0], axis=1)
    return [shapes[0]]


def flatten(g: GraphBuilder, layer, xs, shapes, ys) -> list[CHW]:
    """[C, H, W] -> [C*H*W, 1, 1], in channel-first (row-major) or channel-last order."""
    x = xs[0]
    if layer.flatten.mode == layer.flatten.CHANNEL_LAST:
        x = g.node("Transpose", [x], perm=[0, 2, 3, 1])
    g.reshape(x, [0, -1, 1, 1], ys[0])
    return [(math.prod(shapes[0]), 1, 1)]


def lrn(g: GraphBuilder, layer, xs, shapes, ys) -> list[CHW]:
    """x / (k + alpha / size * sum over a window of ``localSize`` channels of x^2)^beta."""
    p = layer.lrn
    g.node(
        "LRN", [xs[0]], ys[0], alpha=p.alpha, beta=p.beta, bias=p.k or 1.0, size=int(p.localSize)
    )
    return [shapes[0]]


def l2normalize(g: GraphBuilder, layer, xs, shapes, ys) -> list[CHW]:
    """x / sqrt(sum over C, H, W of x^2 + eps), eps defaulting to 1e-6."""
    eps = layer.l2normalize.epsilon or 1e-6
    total = g.node("ReduceSumSquare", [xs[0]], axes=[1, 2, 3], keepdims=1)
    g.node("Div", [xs[0], g.node("Sqrt", [g.node("Add", [total, g.const(eps)])])], ys[0])
    return [shapes[0]]
