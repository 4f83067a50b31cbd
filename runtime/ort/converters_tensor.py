"""Runtime, ONNX layer: ONNX converters for Core ML's elementwise and data-reorganisation layers.

Same contract as :mod:`runtime.ort.converters_nn`: ``convert(g, layer, xs, shapes, ys) ->
out_shapes`` with per-example shapes in Core ML ``(C, H, W)`` order and ONNX tensors
``(N, C, H, W)``. Core ML's limited broadcasting (``[1,1,1]``, ``[C,1,1]``, ``[1,H,W]``,
``[C,H,W]``) is a special case of ONNX's numpy-style broadcasting over the same rank-4 tensors.
Semantics follow the comments of Core ML's ``NeuralNetwork.proto``.
"""

from __future__ import annotations

import math

from runtime.nn.layers import squeeze as squeeze_layer
from runtime.ort import weights as wp
from runtime.ort.converters_nn import border_amounts
from runtime.ort.onnx_graph import CHW, GraphBuilder
from updatable.errors import UnsupportedLayerError

# Core ML's (Seq, C, H, W) axis numbers as used by permute -> ONNX axes of (N, C, H, W).
_AXIS = {1: 1, 2: 2, 3: 3}


def _broadcast(shapes) -> CHW:
    return tuple(max(dims) for dims in zip(*shapes, strict=True))


def _chain(g: GraphBuilder, op: str, xs, y: str) -> None:
    acc = xs[0]
    for i, x in enumerate(xs[1:]):
        acc = g.node(op, [acc, x], y if i == len(xs) - 2 else None)


def add(g: GraphBuilder, layer, xs, shapes, ys) -> list[CHW]:
    """x1 + x2 + ...; a single input gets ``+ alpha``."""
    if len(xs) == 1:
        g.node("Add", [xs[0], g.const(layer.add.alpha)], ys[0])
    else:
        _chain(g, "Add", xs, ys[0])
    return [_broadcast(shapes)]


def multiply(g: GraphBuilder, layer, xs, shapes, ys) -> list[CHW]:
    """x1 * x2 * ...; a single input gets ``* alpha``."""
    if len(xs) == 1:
        g.node("Mul", [xs[0], g.const(layer.multiply.alpha)], ys[0])
    else:
        _chain(g, "Mul", xs, ys[0])
    return [_broadcast(shapes)]


def _variadic(g: GraphBuilder, op: str, xs, shapes, ys) -> list[CHW]:
    g.node(op, list(xs), ys[0])
    return [_broadcast(shapes)]


def average(g: GraphBuilder, layer, xs, shapes, ys) -> list[CHW]:
    """Elementwise mean of the inputs."""
    return _variadic(g, "Mean", xs, shapes, ys)


def maximum(g: GraphBuilder, layer, xs, shapes, ys) -> list[CHW]:
    """Elementwise maximum of the inputs."""
    return _variadic(g, "Max", xs, shapes, ys)


def minimum(g: GraphBuilder, layer, xs, shapes, ys) -> list[CHW]:
    """Elementwise minimum of the inputs."""
    return _variadic(g, "Min", xs, shapes, ys)


def concat(g: GraphBuilder, layer, xs, shapes, ys) -> list[CHW]:
    """Concatenation along the channel axis (-3)."""
    if layer.concat.sequenceConcat:
        raise UnsupportedLayerError(
            f"layer '{layer.name}' concatenates along the sequence axis, which the runtime "
            "keeps at length 1; only channel concatenation is exported"
        )
    g.node("Concat", list(xs), ys[0], axis=1)
    return [(sum(s[0] for s in shapes), shapes[0][1], shapes[0][2])]


def reshape(g: GraphBuilder, layer, xs, shapes, ys) -> list[CHW]:
    """CHANNEL_FIRST: row-major reinterpretation; CHANNEL_LAST: through ``[H, W, C]`` order."""
    target = [int(v) for v in layer.reshape.targetShape]
    if len(target) == 4:
        if target[0] != 1:
            raise UnsupportedLayerError(
                f"layer '{layer.name}' reshapes to sequence length {target[0]}; only 1 is supported"
            )
        target = target[1:]
    if len(target) != 3 or math.prod(target) != math.prod(shapes[0]):
        raise UnsupportedLayerError(
            f"layer '{layer.name}' cannot reshape [C, H, W] = {list(shapes[0])} to "
            f"{list(layer.reshape.targetShape)}"
        )
    c, h, w = target
    if layer.reshape.mode == layer.reshape.CHANNEL_LAST:
        x = g.node("Transpose", [xs[0]], perm=[0, 2, 3, 1])
        x = g.reshape(x, [0, h, w, c])
        g.node("Transpose", [x], ys[0], perm=[0, 3, 1, 2])
    else:
        g.reshape(xs[0], [0, c, h, w], ys[0])
    return [(c, h, w)]


def permute(g: GraphBuilder, layer, xs, shapes, ys) -> list[CHW]:
    """Transpose of (Seq, C, H, W) keeping the batch axis; Seq must stay first."""
    axis = [int(a) for a in layer.permute.axis] or [0, 1, 2, 3]
    if sorted(axis) != [0, 1, 2, 3] or axis[0] != 0:
        raise UnsupportedLayerError(
            f"layer '{layer.name}' permutes axes {axis}; only permutations that keep the "
            "sequence axis first ([0, ...]) are supported"
        )
    g.node("Transpose", [xs[0]], ys[0], perm=[0] + [_AXIS[a] for a in axis[1:]])
    dims = (1, *shapes[0])
    return [tuple(dims[a] for a in axis[1:])]


def padding(g: GraphBuilder, layer, xs, shapes, ys) -> list[CHW]:
    """Spatial padding: constant value, reflection (edge excluded) or replication."""
    p = layer.padding
    top, left, bottom, right = border_amounts(p.paddingAmounts)
    kind = p.WhichOneof("PaddingType") or "constant"
    pads = g.ints([0, 0, top, left, 0, 0, bottom, right])
    if kind == "constant":
        # NOTE: a zero fill is written as -0.0 (equal to 0 in every later operation): ORT's
        # optimiser fuses a Pad whose fill bytes are all zero into a following MaxPool, whose
        # own padding acts as -inf, which changes the maximum of negative inputs.
        value = p.constant.value if p.constant.value != 0 else -0.0
        g.node("Pad", [xs[0], pads, g.const(value)], ys[0], mode="constant")
    else:
        g.node(
            "Pad", [xs[0], pads], ys[0], mode={"reflection": "reflect", "replication": "edge"}[kind]
        )
    c, h, w = shapes[0]
    return [(c, h + top + bottom, w + left + right)]


def upsample(g: GraphBuilder, layer, xs, shapes, ys) -> list[CHW]:
    """Nearest or bilinear upsampling by ``scalingFactor`` (or ``fractionalScalingFactor``).

    Bilinear DEFAULT samples input position ``i / scale`` (clamped to the last pixel: the
    proto's UPSAMPLE_MODE grid), ALIGN_CORNERS_TRUE aligns the corner pixels, and
    ALIGN_CORNERS_FALSE uses pixel centres (``(i + 0.5) / scale - 0.5``).
    """
    p = layer.upsample
    if len(p.fractionalScalingFactor) == 2:
        scales = [float(s) for s in p.fractionalScalingFactor]
    else:
        scales = [float(s) for s in _pair(p.scalingFactor)]
    c, h, w = shapes[0]
    out = (c, math.floor(h * scales[0]), math.floor(w * scales[1]))
    sizes = g.node("Concat", [g.node("Shape", [xs[0]], start=0, end=2), g.ints(out[1:])], axis=0)
    if p.mode == p.BILINEAR:
        transform = {
            p.DEFAULT: "asymmetric",
            p.ALIGN_CORNERS_TRUE: "align_corners",
            p.ALIGN_CORNERS_FALSE: "half_pixel",
        }[p.linearUpsampleMode]
        attrs = {"mode": "linear", "coordinate_transformation_mode": transform}
    else:
        attrs = {
            "mode": "nearest",
            "coordinate_transformation_mode": "asymmetric",
            "nearest_mode": "floor",
        }
    g.node("Resize", [xs[0], "", "", sizes], ys[0], **attrs)
    return [out]


def _pair(values) -> tuple[int, int]:
    return (int(values[0]), int(values[1])) if len(values) == 2 else (1, 1)


def _shaped(g: GraphBuilder, layer, weights, shape, field: str) -> str:
    """A scale/bias parameter of shape [1], [C], [1, H, W] or [C, H, W], broadcastable."""
    dims = [int(d) for d in shape] or [1]
    values = wp.read(weights, math.prod(dims), f"the {field} of layer '{layer.name}'")
    if len(dims) == 1:
        dims = [dims[0], 1, 1]
    return g.param(f"{layer.name}.{field}", values.reshape(dims))


def scale(g: GraphBuilder, layer, xs, shapes, ys) -> list[CHW]:
    """y = scale * x (+ bias), each broadcast from [1], [C], [1, H, W] or [C, H, W]."""
    p = layer.scale
    factor = _shaped(g, layer, p.scale, p.shapeScale, "scale")
    if p.hasBias:
        bias = _shaped(g, layer, p.bias, p.shapeBias, "bias")
        g.node("Add", [g.node("Mul", [xs[0], factor]), bias], ys[0])
    else:
        g.node("Mul", [xs[0], factor], ys[0])
    return [shapes[0]]


def bias(g: GraphBuilder, layer, xs, shapes, ys) -> list[CHW]:
    """y = x + bias, broadcast from [1], [C], [1, H, W] or [C, H, W]."""
    g.node("Add", [xs[0], _shaped(g, layer, layer.bias.bias, layer.bias.shape, "bias")], ys[0])
    return [shapes[0]]


def unary(g: GraphBuilder, layer, xs, shapes, ys) -> list[CHW]:
    """f(scale * x + shift) for f in sqrt, rsqrt, inverse, power, exp, log, abs, threshold.

    scale defaults to 1 when 0, epsilon (rsqrt, inverse, log) to 1e-6 when 0.
    """
    p = layer.unary
    op = p.Operation.Name(p.type)
    x = xs[0]
    if (p.scale or 1.0) != 1.0:
        x = g.node("Mul", [x, g.const(p.scale)])
    if p.shift:
        x = g.node("Add", [x, g.const(p.shift)])
    eps = g.const(p.epsilon or 1e-6)
    y = ys[0]
    if op == "SQRT":
        g.node("Sqrt", [x], y)
    elif op == "RSQRT":
        g.node("Reciprocal", [g.node("Sqrt", [g.node("Add", [x, eps])])], y)
    elif op == "INVERSE":
        g.node("Reciprocal", [g.node("Add", [x, eps])], y)
    elif op == "POWER":
        g.node("Pow", [x, g.const(p.alpha)], y)
    elif op == "EXP":
        g.node("Exp", [x], y)
    elif op == "LOG":  # log(x + eps): see runtime/nn/layers/unary.py for why eps applies here
        g.node("Log", [g.node("Add", [x, eps])], y)
    elif op == "ABS":
        g.node("Abs", [x], y)
    else:  # THRESHOLD: max(alpha, x)
        g.node("Max", [x, g.const(p.alpha)], y)
    return [shapes[0]]


def _slice(g, x, starts, ends, axes, steps=None, y=None) -> str:
    inputs = [x, g.ints(starts), g.ints(ends), g.ints(axes)]
    if steps is not None:
        inputs.append(g.ints(steps))
    return g.node("Slice", inputs, y)


def crop(g: GraphBuilder, layer, xs, shapes, ys) -> list[CHW]:
    """One input: crop ``cropAmounts``; two inputs: a window of the second input's size at
    ``offset``."""
    p = layer.crop
    c, h, w = shapes[0]
    if len(xs) == 2:
        (oh, ow), (hh, ww) = _pair(p.offset) if p.offset else (0, 0), shapes[1][1:]
        _slice(g, xs[0], [oh, ow], [oh + hh, ow + ww], [2, 3], y=ys[0])
        return [(c, hh, ww)]
    top, left, bottom, right = border_amounts(p.cropAmounts)
    _slice(g, xs[0], [top, left], [h - bottom, w - right], [2, 3], y=ys[0])
    return [(c, h - top - bottom, w - left - right)]


def split(g: GraphBuilder, layer, xs, shapes, ys) -> list[CHW]:
    """Equal split along the channel axis into ``nOutputs`` blobs."""
    n = int(layer.split.nOutputs) or len(ys)
    c, h, w = shapes[0]
    if c % n:
        raise UnsupportedLayerError(
            f"layer '{layer.name}' splits {c} channels into {n} equal parts"
        )
    g.node("Split", [xs[0], g.ints([c // n] * n)], list(ys), axis=1)
    return [(c // n, h, w)] * n


def slice_(g: GraphBuilder, layer, xs, shapes, ys) -> list[CHW]:
    """``x[start:end:stride]`` along C, H or W (negative indices count from the end)."""
    p = layer.slice
    axis = {p.CHANNEL_AXIS: 0, p.HEIGHT_AXIS: 1, p.WIDTH_AXIS: 2}[p.axis]
    stride = int(p.stride) or 1
    size = shapes[0][axis]
    start, end, _ = slice(int(p.startIndex), int(p.endIndex)).indices(size)
    _slice(g, xs[0], [start], [end], [axis + 1], [stride], ys[0])
    out = list(shapes[0])
    out[axis] = len(range(start, end, stride))
    return [tuple(out)]


_REDUCE_AXES = {"CHW": [1, 2, 3], "HW": [2, 3], "C": [1], "H": [2], "W": [3]}


def reduce(g: GraphBuilder, layer, xs, shapes, ys) -> list[CHW]:
    """Reduction over CHW, HW, C, H or W, keeping the reduced axes as 1.

    LOGSUM is ``sum(log(x + eps))`` (eps defaults to 1e-6); ARGMAX returns float indices.
    """
    p = layer.reduce
    mode, axes = p.ReduceOperation.Name(p.mode), _REDUCE_AXES[p.ReduceAxis.Name(p.axis)]
    x, y = xs[0], ys[0]
    if mode == "ARGMAX":
        if len(axes) != 1:
            raise UnsupportedLayerError(f"layer '{layer.name}': ARGMAX needs one axis (C, H, W)")
        g.node("Cast", [g.node("ArgMax", [x], axis=axes[0], keepdims=1)], y, to=1)
    elif mode == "SUM":
        g.node("ReduceSum", [x, g.ints(axes)], y, keepdims=1)
    elif mode == "LOGSUM":
        logs = g.node("Log", [g.node("Add", [x, g.const(p.epsilon or 1e-6)])])
        g.node("ReduceSum", [logs, g.ints(axes)], y, keepdims=1)
    else:
        op = {
            "AVG": "ReduceMean",
            "PROD": "ReduceProd",
            "SUMSQUARE": "ReduceSumSquare",
            "L1": "ReduceL1",
            "L2": "ReduceL2",
            "MAX": "ReduceMax",
            "MIN": "ReduceMin",
        }[mode]
        g.node(op, [x], y, axes=axes, keepdims=1)
    c, h, w = (1 if i + 1 in axes else d for i, d in enumerate(shapes[0]))
    return [(c, h, w)]


def dot(g: GraphBuilder, layer, xs, shapes, ys) -> list[CHW]:
    """sum_c a_c b_c over the channel axis; with ``cosineSimilarity``, divided by the norms."""
    product = g.node("ReduceSum", [g.node("Mul", [xs[0], xs[1]]), g.ints([1])], keepdims=1)
    if layer.dot.cosineSimilarity:
        norms = [g.node("ReduceL2", [x], axes=[1], keepdims=1) for x in xs]
        g.node("Div", [product, g.node("Mul", norms)], ys[0])
    else:
        g.node("Identity", [product], ys[0])
    return [(1, shapes[0][1], shapes[0][2])]


def clip(g: GraphBuilder, layer, xs, shapes, ys) -> list[CHW]:
    """min(max(x, minVal), maxVal), e.g. ReLU6."""
    p = layer.clip
    g.node("Clip", [xs[0], g.const(p.minVal), g.const(p.maxVal)], ys[0])
    return [shapes[0]]


def copy(g: GraphBuilder, layer, xs, shapes, ys) -> list[CHW]:
    g.node("Identity", [xs[0]], ys[0])
    return [shapes[0]]


def load_constant(g: GraphBuilder, layer, xs, shapes, ys) -> list[CHW]:
    """A constant ``[C, H, W]`` blob with batch 1 (it broadcasts over the batch)."""
    c, h, w = (int(d) for d in layer.loadConstant.shape)
    dims = (c, h, w)
    values = wp.read(layer.loadConstant.data, math.prod(dims), f"the data of '{layer.name}'")
    g.node("Identity", [g.param(f"{layer.name}.data", values.reshape(1, *dims))], ys[0])
    return [dims]


def squeeze_or_expand(g: GraphBuilder, layer, xs, shapes, ys, *, rank: int = 5) -> list[CHW]:
    """squeeze / expandDims: the values keep their order, only ``[C, H, W]`` changes. The
    input's ``[C, H, W]`` right-aligned to its Core ML ``rank`` is squeezed or expanded as
    ``runtime.nn.layers.squeeze`` does, and read back from its last three axes."""
    chw = list(shapes[0])
    tensor = tuple([1] * (rank - 3) + chw if rank >= 3 else chw[3 - rank :])
    if layer.WhichOneof("layer") == "squeeze":
        out = squeeze_layer.squeezed(layer, tensor)
    else:
        out = squeeze_layer.expanded(layer, tensor)
    if any(d != 1 for d in out[:-3]):
        raise UnsupportedLayerError(
            f"layer '{layer.name}' makes a tensor of shape {list(out)}, with an axis larger "
            "than 1 before its last three; the ONNX export holds at most [C, H, W] per example"
        )
    out_chw = [1, 1, 1, *out][-3:]
    g.reshape(xs[0], [0, *out_chw], ys[0])
    return [(out_chw[0], out_chw[1], out_chw[2])]
