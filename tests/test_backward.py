"""Every backward, checked twice (house rule 5): against central differences in float64 and
against torch autograd on the same layer built by coremltools' builder.

The scalar checked is ``L = sum(y * R)`` for a fixed random ``R``, so ``dL/dy = R`` is what
``backward`` receives; parameter gradients are compared in Core ML layout through ``export``.
"""

from __future__ import annotations

import numpy as np
import pytest

from runtime.kernels.softmax import softmax_cross_entropy
from runtime.nn.layers import get_kind
from runtime.nn.layers.activation import with_activation
from tests.builders import conv_adder, dense_adder, pool_adder, single_layer_nn
from tests.layer_support import nhwc, torch_pads
from tests.optional import needs, optional_import
from updatable.errors import UnsupportedLayerError

torch = optional_import("torch")
F = optional_import("torch.nn.functional")

EPS = 1e-6


def numerical_grad(loss, array: np.ndarray) -> np.ndarray:
    """Central differences ``(L(a + e) - L(a - e)) / 2e`` for every element of ``array``."""
    grad = np.zeros_like(array)
    flat, out = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        keep = flat[i]
        flat[i] = keep + EPS
        plus = loss()
        flat[i] = keep - EPS
        minus = loss()
        flat[i] = keep
        out[i] = (plus - minus) / (2 * EPS)
    return grad


def assert_close(actual, expected, what, tolerance=1e-6):
    np.testing.assert_allclose(actual, expected, rtol=tolerance, atol=tolerance, err_msg=what)


class Layer:
    """A built layer in float64 with forward/backward helpers for ``L = sum(y * R)``."""

    def __init__(self, oneof, layer, in_chw, n=2, fuse=None, seed=0):
        self.kind = get_kind(oneof)
        c, h, w = in_chw
        built = self.kind.build(layer, [(h, w, c)])
        self.attrs = built.attrs if fuse is None else with_activation(built.attrs, fuse)
        self.params = {k: v.astype(np.float64) for k, v in built.params.items()}
        rng = np.random.default_rng(seed)
        self.x = rng.standard_normal((n, h, w, c))
        ys, _ = self.kind.forward(self.attrs, self.params, [self.x], False)
        self.r = rng.standard_normal(ys[0].shape)

    def loss(self) -> float:
        ys, cache = self.kind.forward(self.attrs, self.params, [self.x], False)
        assert cache is None  # keep=False retains nothing
        return float(np.sum(ys[0] * self.r))

    def backward(self, **flags):
        _, cache = self.kind.forward(self.attrs, self.params, [self.x], True)
        return self.kind.backward(self.attrs, self.params, cache, [self.r], **flags)

    def check_numerically(self, what):
        dxs, grads = self.backward()
        assert_close(dxs[0], numerical_grad(self.loss, self.x), f"{what} dx")
        assert sorted(grads) == sorted(k for k in self.params if self.kind.export is not None)
        for key, grad in grads.items():
            assert_close(grad, numerical_grad(self.loss, self.params[key]), f"{what} d{key}")
        return dxs[0], grads

    def core_ml(self, grads):
        return self.kind.export(self.attrs, {k: v.astype(np.float64) for k, v in grads.items()})


def _torch_grads(function, x, *weights):
    """Run ``function(x_nchw, *weights)`` in torch float64; return its output and a closure
    that backpropagates ``R`` (NHWC) and yields the NHWC input and weight gradients."""
    leaves = [
        torch.from_numpy(np.ascontiguousarray(a)).requires_grad_()
        for a in (x.transpose(0, 3, 1, 2), *weights)
    ]
    y = function(*leaves)

    def grads(r):
        y.backward(torch.from_numpy(np.ascontiguousarray(r.transpose(0, 3, 1, 2))))
        return [nhwc(leaves[0].grad)] + [leaf.grad.numpy() for leaf in leaves[1:]]

    return y, grads


ACTS = (
    {None: lambda t: t, "ReLU": F.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}
    if torch is not None
    else {}
)


def _activation(name, channels):
    if name is None:
        return None
    mode = {"ReLU": "RELU", "sigmoid": "SIGMOID", "tanh": "TANH"}[name]
    layer, _ = single_layer_nn((channels, 1, 1), lambda b, i, o: b.add_activation("a", mode, i, o))
    return get_kind("activation").build(layer, [(1, 1, channels)]).attrs


CONV_CASES = [
    # cin, cout, groups, kernel, stride, dilation, padding, (h, w), fused activation
    (3, 4, 1, (3, 3), (2, 2), (1, 1), ("same", "BOTTOM_RIGHT_HEAVY"), (7, 6), "ReLU"),
    (4, 6, 2, (3, 2), (2, 1), (1, 2), ("valid", (1, 2, 0, 1)), (6, 7), "sigmoid"),
    (3, 6, 3, (3, 3), (1, 2), (1, 1), ("same", "TOP_LEFT_HEAVY"), (5, 6), "tanh"),
    (5, 3, 1, (1, 1), (1, 1), (1, 1), ("valid", (0, 0, 0, 0)), (4, 3), None),
    (2, 3, 1, (2, 2), (1, 1), (2, 1), ("valid", (0, 1, 1, 0)), (5, 5), None),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=[str(i) for i in range(len(CONV_CASES))])
@needs("torch")
def test_convolution_backward(case):
    cin, cout, groups, kernel, stride, dilation, padding, (h, w), act = case
    add = conv_adder(cin, cout, groups, kernel, stride, dilation, padding, seed=cout)
    layer, _ = single_layer_nn((cin, h, w), add)
    unit = Layer("convolution", layer, (cin, h, w), fuse=_activation(act, cout), seed=cin)
    dx, grads = unit.check_numerically(f"convolution case {case}")

    top, bottom, left, right = torch_pads(kernel, stride, dilation, padding, h, w)
    core = unit.core_ml(unit.params)

    def reference(xt, weight, bias):
        z = F.conv2d(
            F.pad(xt, (left, right, top, bottom)),
            weight,
            bias,
            stride=stride,
            dilation=dilation,
            groups=groups,
        )
        return ACTS[act](z)

    y, torch_grads = _torch_grads(reference, unit.x, core["weights"], core["bias"])
    np.testing.assert_allclose(
        nhwc(y.detach()),
        unit.kind.forward(unit.attrs, unit.params, [unit.x], False)[0][0],
        atol=1e-12,
    )
    t_dx, t_dw, t_db = torch_grads(unit.r)
    ours = unit.core_ml(grads)
    assert_close(dx, t_dx, "dx vs torch", 1e-10)
    assert_close(ours["weights"], t_dw, "dW vs torch", 1e-10)
    assert_close(ours["bias"], t_db, "db vs torch", 1e-10)


@needs("torch")
def test_deconvolution_backward():
    cin, cout, groups, kernel, stride, h, w = 4, 6, 2, (3, 2), (2, 1), 4, 5
    add = conv_adder(
        cin, cout, groups, kernel, stride, (1, 1), ("valid", (1, 1, 0, 1)), seed=3, deconv=True
    )
    layer, _ = single_layer_nn((cin, h, w), add)
    unit = Layer("convolution", layer, (cin, h, w))
    dx, grads = unit.check_numerically("deconvolution")
    core = unit.core_ml(unit.params)

    def reference(xt, weight, bias):
        full = F.conv_transpose2d(xt, weight, bias, stride=stride, groups=groups)
        return full[:, :, 1:-1, 0:-1]

    _, torch_grads = _torch_grads(reference, unit.x, core["weights"], core["bias"])
    t_dx, t_dw, t_db = torch_grads(unit.r)
    ours = unit.core_ml(grads)
    assert_close(dx, t_dx, "deconv dx vs torch", 1e-10)
    assert_close(ours["weights"], t_dw, "deconv dW vs torch", 1e-10)
    assert_close(ours["bias"], t_db, "deconv db vs torch", 1e-10)


@pytest.mark.parametrize(
    ("in_chw", "rank", "act"),
    [((3, 2, 5), None, "ReLU"), ((7, 1, 1), None, None), ((2, 3, 4), 3, "tanh")],
)
@needs("torch")
def test_inner_product_backward(in_chw, rank, act):
    c, h, w = in_chw
    cin, cout = (w if rank == 3 else c * h * w), 4
    layer, _ = single_layer_nn(in_chw, dense_adder(cin, cout, seed=cin))
    if rank:
        layer.inputTensor.add(rank=rank)
    channels = c if rank == 3 else cout  # the blob channel axis
    unit = Layer("innerProduct", layer, in_chw, n=3, fuse=_activation(act, channels), seed=1)
    dx, grads = unit.check_numerically(f"innerProduct {in_chw} rank {rank}")
    core = unit.core_ml(unit.params)
    if rank == 3:

        def reference(xt, weight, bias):
            return ACTS[act](F.linear(xt, weight, bias))  # over W, Core ML's last axis
    else:

        def reference(xt, weight, bias):
            return ACTS[act](F.linear(xt.reshape(xt.shape[0], -1), weight, bias))[:, :, None, None]

    _, torch_grads = _torch_grads(reference, unit.x, core["weights"], core["bias"])
    t_dx, t_dw, t_db = torch_grads(unit.r)
    ours = unit.core_ml(grads)
    assert_close(dx, t_dx, "innerProduct dx vs torch", 1e-10)
    assert_close(ours["weights"], t_dw, "innerProduct dW vs torch", 1e-10)
    assert_close(ours["bias"], t_db, "innerProduct db vs torch", 1e-10)


def test_backward_computes_only_what_is_asked():
    layer, _ = single_layer_nn(
        (3, 5, 5), conv_adder(3, 4, 1, (3, 3), (1, 1), (1, 1), ("valid", (0, 0, 0, 0)), seed=2)
    )
    unit = Layer("convolution", layer, (3, 5, 5))
    dxs, grads = unit.backward(input_grads=False, param_grads=True)
    assert dxs == [None] and sorted(grads) == ["W", "b"]
    dxs, grads = unit.backward(input_grads=True, param_grads=False)
    assert dxs[0].shape == unit.x.shape and grads == {}
    layer, _ = single_layer_nn((6,), dense_adder(6, 2, seed=2))
    unit = Layer("innerProduct", layer, (6, 1, 1))
    dxs, grads = unit.backward(input_grads=False, param_grads=True)
    assert dxs == [None] and sorted(grads) == ["W", "b"]


@pytest.mark.parametrize("mode", [0, 1])
@needs("torch")
def test_flatten_backward(mode):
    layer, _ = single_layer_nn((3, 2, 4), lambda b, i, o: b.add_flatten("f", mode, i, o))
    unit = Layer("flatten", layer, (3, 2, 4))
    dx, _ = unit.check_numerically(f"flatten mode {mode}")
    order = (lambda t: t) if mode == 0 else (lambda t: t.permute(0, 2, 3, 1))
    _, torch_grads = _torch_grads(lambda xt: torch.flatten(order(xt), 1)[:, :, None, None], unit.x)
    assert_close(dx, torch_grads(unit.r)[0], "flatten dx vs torch", 1e-12)


POOL_CASES = [
    ("MAX", (3, 3), (2, 2), ("valid", (1, 0, 1, 2)), False),
    ("MAX", (2, 2), (2, 2), ("includeLastPixel", (1, 1)), False),
    ("AVERAGE", (3, 2), (1, 2), ("same", "BOTTOM_RIGHT_HEAVY"), False),
    ("AVERAGE", (3, 3), (2, 2), ("same", "TOP_LEFT_HEAVY"), True),
    ("AVERAGE", None, None, ("global", None), False),
    ("MAX", None, None, ("global", None), False),
    ("L2", (2, 3), (2, 1), ("valid", (0, 1, 1, 0)), False),
    # every other variant Core ML trains through: it backpropagates through any pooling
    ("L2", None, None, ("global", None), False),
    ("L2", (3, 3), (2, 2), ("same", "TOP_LEFT_HEAVY"), False),
    ("MAX", (3, 2), (1, 2), ("same", "BOTTOM_RIGHT_HEAVY"), False),
    ("AVERAGE", (3, 3), (2, 2), ("valid", (1, 1, 0, 1)), True),
    ("AVERAGE", (3, 3), (2, 2), ("valid", (1, 1, 0, 1)), False),
    ("AVERAGE", (2, 2), (2, 2), ("includeLastPixel", (1, 1)), False),
    ("AVERAGE", (2, 2), (2, 2), ("includeLastPixel", (1, 0)), True),
    ("L2", (2, 2), (2, 2), ("includeLastPixel", (0, 0)), False),
]


@pytest.mark.parametrize("case", POOL_CASES, ids=[f"{c[0]}-{c[3][0]}" for c in POOL_CASES])
@needs("torch")
def test_pooling_backward(case):
    kind, kernel, stride, padding, exclude = case
    layer, _ = single_layer_nn((3, 7, 6), pool_adder(kind, kernel, stride, padding, exclude))
    unit = Layer("pooling", layer, (3, 7, 6), seed=4)
    dx, _ = unit.check_numerically(f"pooling {case}")
    top, bottom, left, right = unit.attrs.window.pads
    if padding[0] == "global":
        reduce = {
            "MAX": lambda t: t.amax(dim=(2, 3), keepdim=True),
            "AVERAGE": lambda t: t.mean(dim=(2, 3), keepdim=True),
            "L2": lambda t: torch.sqrt((t * t).sum(dim=(2, 3), keepdim=True)),
        }[kind]
    elif padding[0] == "includeLastPixel" and kind == "MAX":

        def reduce(t):
            return F.max_pool2d(t, kernel, stride, padding[1], ceil_mode=True)
    elif padding[0] == "includeLastPixel" and kind == "AVERAGE":
        # Core ML's windows past the last pixel are torch's ceil-mode windows; excluding the
        # padding is torch's count_include_pad=False
        def reduce(t):
            return F.avg_pool2d(
                t, kernel, stride, padding[1], ceil_mode=True, count_include_pad=not exclude
            )
    elif padding[0] == "includeLastPixel":

        def reduce(t):
            total = F.avg_pool2d(
                t * t, kernel, stride, padding[1], ceil_mode=True, divisor_override=1
            )
            return torch.sqrt(total)
    elif kind == "MAX":

        def reduce(t):
            return F.max_pool2d(F.pad(t, (left, right, top, bottom), value=-np.inf), kernel, stride)
    elif kind == "L2":

        def reduce(t):
            padded = F.pad(t * t, (left, right, top, bottom))
            return torch.sqrt(F.avg_pool2d(padded, kernel, stride, divisor_override=1))
    else:

        def reduce(t):
            padded = F.pad(t, (left, right, top, bottom))
            total = F.avg_pool2d(padded, kernel, stride, divisor_override=1)
            ones = F.pad(torch.ones_like(t), (left, right, top, bottom))
            count = F.avg_pool2d(ones, kernel, stride, divisor_override=1) if exclude else 1
            return total / (count if exclude else kernel[0] * kernel[1])

    _, torch_grads = _torch_grads(reduce, unit.x)
    assert_close(dx, torch_grads(unit.r)[0], "pooling dx vs torch", 1e-10)


@pytest.mark.parametrize("instance", [False, True])
@needs("torch")
def test_batchnorm_backward(instance):
    c = 3
    rng = np.random.default_rng(5)
    gamma, beta, mean = rng.standard_normal((3, c))
    variance = rng.uniform(0.5, 2, c)

    def add(builder, inp, out):
        builder.add_batchnorm(
            "bn",
            c,
            gamma,
            beta,
            mean,
            variance,
            inp,
            out,
            compute_mean_var=instance,
            instance_normalization=instance,
        )

    layer, _ = single_layer_nn((c, 4, 3), add)
    unit = Layer("batchnorm", layer, (c, 4, 3), n=3)
    dx, grads = unit.check_numerically(f"batchnorm instance={instance}")
    assert grads == {}
    g, b, m, v = (
        torch.from_numpy(a.astype(np.float32).astype(np.float64))
        for a in (gamma, beta, mean, variance)
    )
    if instance:

        def reference(xt):
            return F.instance_norm(xt, weight=g, bias=b, eps=1e-5)
    else:

        def reference(xt):
            return F.batch_norm(xt, m, v, g, b, training=False, eps=1e-5)

    _, torch_grads = _torch_grads(reference, unit.x)
    assert_close(dx, torch_grads(unit.r)[0], "batchnorm dx vs torch", 1e-6)


@pytest.mark.parametrize("name", ["RELU", "SIGMOID", "TANH"])
@needs("torch")
def test_activation_backward(name):
    layer, _ = single_layer_nn((4, 3, 3), lambda b, i, o: b.add_activation("a", name, i, o))
    unit = Layer("activation", layer, (4, 3, 3))
    dx, grads = unit.check_numerically(name)
    assert grads == {}
    function = {"RELU": F.relu, "SIGMOID": torch.sigmoid, "TANH": torch.tanh}[name]
    _, torch_grads = _torch_grads(function, unit.x)
    assert_close(dx, torch_grads(unit.r)[0], f"{name} dx vs torch", 1e-12)


def test_activations_core_ml_cannot_backprop_through_raise():
    layer, _ = single_layer_nn((2, 1, 1), lambda b, i, o: b.add_activation("elu", "ELU", i, o, 1.0))
    unit = Layer("activation", layer, (2, 1, 1))
    with pytest.raises(UnsupportedLayerError, match=r"activation ELU has no backward pass.*ReLU"):
        unit.backward()
    assert get_kind("softmax").backward is None


@needs("torch")
def test_softmax_cross_entropy_matches_torch_and_central_differences():
    rng = np.random.default_rng(6)
    logits = rng.standard_normal((5, 7)) * 3
    target = rng.integers(0, 7, 5)
    loss, dlogits = softmax_cross_entropy(logits, target)
    t = torch.from_numpy(logits).requires_grad_()
    ref = F.cross_entropy(t, torch.from_numpy(target))
    ref.backward()
    assert abs(loss - ref.item()) < 1e-12
    assert_close(dlogits, t.grad.numpy(), "dlogits vs torch", 1e-12)
    numerical = numerical_grad(lambda: softmax_cross_entropy(logits, target)[0], logits)
    assert_close(dlogits, numerical, "dlogits vs central differences")
