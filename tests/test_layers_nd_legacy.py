"""The rank-5 layer kinds on the tensors converters feed them: innerProduct on ranks 1 to 5,
activations on any rank, add/multiply with broadcasting and a single input, the rank-5 kinds on
tensors with leading axes (``[B, C, H, W]`` folded into the batch), scale and bias on N-D
tensors, the legacy slice on a rank-3 tensor, copy. References are numpy (torch for
convolution and pooling) on the Core ML tensors, in float64; each network also states the
layout its layers ran in, so both code paths are exercised.
"""

from __future__ import annotations

import numpy as np
import pytest

from runtime.nn.graph import compile_network
from tests.nd_networks import network, run
from tests.optional import needs, optional_import
from updatable.errors import ShapeError

torch = optional_import("torch")
F = optional_import("torch.nn.functional")


def identity_chw(b, source, target):
    """A 1x1 max pooling: the identity, held ``chw`` (the next layer then runs chw)."""
    b.add_pooling(f"hold {source}", 1, 1, 1, 1, "MAX", "VALID", source, target)


def stored(values):
    """Weights as the builder stores them (float32), back in float64."""
    return np.asarray(values, np.float32).astype(np.float64)


# ---- innerProduct --------------------------------------------------------------------------


def _inner_product_reference(x, w, b, rank):
    """NeuralNetwork.proto's rules: ranks 1-3 contract the last axis, 4 and 5 the last three."""
    lead = x.shape[: x.ndim - (3 if rank >= 4 else 1)]
    y = x.reshape(*lead, -1) @ w.T + b
    return y.reshape(*lead, w.shape[0], *([1, 1] if rank >= 4 else []))


@pytest.mark.parametrize("chw", [False, True])
@pytest.mark.parametrize(
    "shape", [(6,), (3, 6), (2, 3, 6), (2, 6, 1, 1), (3, 2, 2, 3, 1), (1, 2, 3, 4), (2, 1, 4, 2, 2)]
)
def test_inner_product_on_ranks_1_to_5(shape, chw):
    if chw and len(shape) < 3:
        pytest.skip("the chw layout holds rank 3 or more")
    rank = len(shape)
    cin = shape[-1] if rank <= 3 else int(np.prod(shape[-3:]))
    rng = np.random.default_rng(cin + rank)
    w, bias = rng.standard_normal((4, cin)), rng.standard_normal(4)

    def layers(b):
        source = "x"
        if chw:
            identity_chw(b, "x", "held")
            source = "held"
        b.add_inner_product(
            "ip",
            W=w,
            b=bias,
            input_channels=cin,
            output_channels=4,
            has_bias=True,
            input_name=source,
            output_name="out",
        )

    spec = network({"x": shape}, layers)
    assert compile_network(spec).tensors["out"].layout == ("chw" if chw else "nd")
    x = rng.standard_normal((2, *shape))
    expected = _inner_product_reference(x, stored(w), stored(bias), rank)
    out = run(spec, {"x": x})["out"]
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_inner_product_nd_fuses_a_relu_and_trains_like_its_numerical_gradient():
    """An nd innerProduct + ReLU fuse into one step; its backward matches central
    differences in float64 (dx, dW, db)."""
    rng = np.random.default_rng(0)
    w, bias = rng.standard_normal((3, 5)), rng.standard_normal(3)

    def layers(b):
        b.add_inner_product(
            "ip",
            W=w,
            b=bias,
            input_channels=5,
            output_channels=3,
            has_bias=True,
            input_name="x",
            output_name="z",
        )
        b.add_activation("relu", "RELU", "z", "out")

    net = compile_network(network({"x": (2, 5)}, layers))
    (step,) = net.steps
    assert step.attrs.activation == "ReLU" and net.fused == {"z": "ip"}
    params = {k: v.astype(np.float64) for k, v in step.params.items()}
    x = rng.standard_normal((2, 2, 5))
    dy = rng.standard_normal((2, 2, 3))
    _, cache = step.kind.forward(step.attrs, params, [x], True)
    (dx,), grads = step.kind.backward(step.attrs, params, cache, [dy])

    def loss(x_, p_):
        return float((step.kind.forward(step.attrs, p_, [x_], False)[0][0] * dy).sum())

    def numerical(array, f):
        grad = np.zeros_like(array)
        for i in np.ndindex(array.shape):
            saved = array[i]
            array[i] = saved + 1e-6
            up = f()
            array[i] = saved - 1e-6
            grad[i] = (up - f()) / 2e-6
            array[i] = saved
        return grad

    np.testing.assert_allclose(dx, numerical(x, lambda: loss(x, params)), rtol=1e-6, atol=1e-8)
    for name in ("W", "b"):
        np.testing.assert_allclose(
            grads[name],
            numerical(params[name], lambda: loss(x, params)),
            rtol=1e-6,
            atol=1e-8,
            err_msg=name,
        )


def test_inner_product_refuses_a_wrong_input_size():
    spec = network(
        {"x": (2, 7)},
        lambda b: b.add_inner_product(
            "ip",
            W=np.ones((3, 6)),
            b=None,
            input_channels=6,
            output_channels=3,
            has_bias=False,
            input_name="x",
            output_name="out",
        ),
    )
    with pytest.raises(
        ShapeError,
        match=r"layer 'ip' \(innerProduct\): inputChannels = 6 does "
        r"not match the input of shape \[2, 7\]",
    ):
        compile_network(spec)


# ---- activation ----------------------------------------------------------------------------

ACTIVATIONS = {
    "RELU": (None, lambda x: np.maximum(x, 0)),
    "SIGMOID": (None, lambda x: 1 / (1 + np.exp(-x))),
    "TANH": (None, np.tanh),
    "LEAKYRELU": ([0.1], lambda x: np.where(x >= 0, x, stored(0.1) * x)),
    "LINEAR": ([2.0, -1.0], lambda x: 2 * x - 1),
}


@pytest.mark.parametrize("shape", [(5,), (2, 5), (2, 3, 5), (2, 1, 3, 4, 5)])
@pytest.mark.parametrize("kind", sorted(ACTIVATIONS))
def test_activations_run_on_any_rank(kind, shape):
    params, reference = ACTIVATIONS[kind]
    spec = network({"x": shape}, lambda b: b.add_activation("a", kind, "x", "out", params=params))
    x = np.random.default_rng(len(shape)).standard_normal((2, *shape))
    np.testing.assert_allclose(run(spec, {"x": x})["out"], reference(x), rtol=1e-12)


def test_prelu_per_channel_reads_axis_minus_3_and_needs_rank_3():
    alpha = np.array([0.1, 0.2, 0.3])
    spec = network(
        {"x": (2, 3, 4, 5)}, lambda b: b.add_activation("a", "PRELU", "x", "out", params=alpha)
    )
    x = np.random.default_rng(1).standard_normal((2, 2, 3, 4, 5))
    slope = stored(alpha)[:, None, None]
    np.testing.assert_allclose(
        run(spec, {"x": x})["out"], np.where(x >= 0, x, slope * x), rtol=1e-12
    )
    with pytest.raises(
        ShapeError,
        match=r"layer 'a' \(activation\): PReLU with per-channel "
        r"parameters reads the channel axis -3",
    ):
        compile_network(
            network(
                {"x": (4, 3)}, lambda b: b.add_activation("a", "PRELU", "x", "out", params=alpha)
            )
        )


# ---- add, multiply, average, max, min --------------------------------------------------------


def test_add_and_multiply_with_one_input_use_alpha_on_any_rank():
    def layers(b):
        b.add_elementwise("plus", ["x"], "p", "ADD", alpha=1.0)
        b.add_elementwise("times", ["x"], "t", "MULTIPLY", alpha=0.353553)

    spec = network({"x": (1,)}, layers, ("p", "t"))
    x = np.random.default_rng(2).standard_normal((3, 1))
    got = run(spec, {"x": x}, ("p", "t"))
    np.testing.assert_allclose(got["p"], x + 1, rtol=1e-12)
    np.testing.assert_allclose(got["t"], x * stored(0.353553), rtol=1e-7)


@pytest.mark.parametrize(
    ("shapes", "mode"),
    [
        (((1, 16, 32), (1, 16, 32)), "ADD"),
        (((2, 3), (3,)), "MULTIPLY"),
        (((4, 1, 3), (2, 1), (3,)), "AVE"),
        (((1, 24), (1, 24)), "MAX"),
        (((2, 2, 2), (1,)), "MIN"),
    ],
)
def test_elementwise_kinds_broadcast_n_d_tensors(shapes, mode):
    names = [f"x{i}" for i in range(len(shapes))]
    spec = network(
        dict(zip(names, shapes, strict=True)), lambda b: b.add_elementwise("e", names, "out", mode)
    )
    rng = np.random.default_rng(len(shapes))
    xs = [rng.standard_normal((2, *s)) for s in shapes]
    rank = max(len(s) for s in shapes)
    aligned = [x.reshape(2, *([1] * (rank - x.ndim + 1)), *x.shape[1:]) for x in xs]
    fold = {
        "ADD": np.add,
        "MULTIPLY": np.multiply,
        "AVE": np.add,
        "MAX": np.maximum,
        "MIN": np.minimum,
    }[mode]
    expected = aligned[0]
    for x in aligned[1:]:
        expected = fold(expected, x)
    if mode == "AVE":
        expected = expected / len(xs)
    np.testing.assert_allclose(
        run(spec, dict(zip(names, xs, strict=True)))["out"], expected, rtol=1e-12
    )


# ---- rank-5 kinds on tensors with leading axes --------------------------------------------------


@needs("torch")
def test_convolution_batchnorm_pooling_upsample_softmax_and_concat_fold_leading_axes():
    """[2, 3, 6, 6] per example: every rank-5 kind treats the 2 as independent images."""
    rng = np.random.default_rng(3)
    w = rng.standard_normal((4, 3, 3, 3))
    gamma, beta = rng.uniform(0.5, 1.5, 4), rng.standard_normal(4)
    mean, var = rng.standard_normal(4), rng.uniform(0.5, 1.5, 4)

    def layers(b):
        b.add_convolution(
            "conv",
            3,
            4,
            3,
            3,
            1,
            1,
            "same",
            1,
            W=w.transpose(2, 3, 1, 0),
            b=None,
            has_bias=False,
            input_name="x",
            output_name="c",
        )
        b.add_batchnorm("bn", 4, gamma, beta, mean, var, "c", "n")
        b.add_pooling("pool", 2, 2, 2, 2, "MAX", "VALID", "n", "p")
        b.add_upsample("up", 2, 2, "p", "u", mode="NN")
        b.add_elementwise("cat", ["u", "n"], "k", "CONCAT")
        b.add_softmax("soft", "k", "out")

    spec = network({"x": (2, 3, 6, 6)}, layers)
    net = compile_network(spec)
    # one relayout: the input folds 2 entries, so it arrives nd (a batch of N on every feed)
    assert [step.kind.oneof for step in net.steps].count("relayout") == 1
    assert net.tensors["out"].shape == (2, 8, 6, 6) and net.tensors["out"].fold == 2
    x = rng.standard_normal((3, 2, 3, 6, 6))
    images = torch.from_numpy(x.reshape(6, 3, 6, 6))
    c = F.conv2d(images, torch.from_numpy(stored(w)), padding=1)
    n = F.batch_norm(c, *(torch.from_numpy(stored(v)) for v in (mean, var, gamma, beta)), eps=1e-5)
    u = F.interpolate(F.max_pool2d(n, 2), scale_factor=2, mode="nearest")
    expected = torch.softmax(torch.cat([u, n], dim=1), dim=1).numpy().reshape(3, 2, 8, 6, 6)
    # batchnorm keeps its folded scale and shift in float32: agreement to float32 rounding
    np.testing.assert_allclose(run(spec, {"x": x})["out"], expected, rtol=1e-6, atol=1e-9)


# ---- scale, bias, legacy slice, copy ----------------------------------------------------------


@pytest.mark.parametrize("shape_scale", [(1,), (16,), (1, 1, 32), (16, 1, 32)])
def test_scale_and_bias_broadcast_over_the_last_three_axes_of_an_nd_tensor(shape_scale):
    rng = np.random.default_rng(len(shape_scale))
    scale, bias = rng.standard_normal(shape_scale), rng.standard_normal(shape_scale)

    def layers(b):
        b.add_scale(
            "s",
            scale,
            bias,
            True,
            "x",
            "out",
            shape_scale=list(shape_scale),
            shape_bias=list(shape_scale),
        )

    spec = network({"x": (1, 16, 1, 32)}, layers)
    assert compile_network(spec).tensors["out"].layout == "nd"
    x = rng.standard_normal((2, 1, 16, 1, 32))
    as_chw = (lambda v: stored(v).reshape(-1, 1, 1)) if len(shape_scale) == 1 else stored
    np.testing.assert_allclose(
        run(spec, {"x": x})["out"], x * as_chw(scale) + as_chw(bias), rtol=1e-12
    )
    with pytest.raises(
        ShapeError,
        match=r"layer 's' \(scale\): reads a tensor of shape "
        r"\[16, 32\]",
    ):
        compile_network(network({"x": (16, 32)}, layers))


def test_the_legacy_slice_takes_the_channel_axis_of_a_rank_3_tensor_with_leading_entries():
    """gru_text's converted form: [13, 1, 24] sliced 1..13 on CHANNEL_AXIS (axis -3)."""

    def layers(b):
        b.add_reshape_static("r", "x", "h", [13, 1, 24])
        b.add_slice("s", "h", "out", "channel", 1, 13, 1)

    spec = network({"x": (13, 24)}, layers)
    x = np.random.default_rng(4).standard_normal((2, 13, 24))
    np.testing.assert_array_equal(run(spec, {"x": x})["out"], x.reshape(2, 13, 1, 24)[:, 1:13])


def test_copy_passes_any_rank_through():
    spec = network({"x": (3,)}, lambda b: b.add_copy("c", "x", "out"))
    x = np.random.default_rng(5).standard_normal((2, 3))
    np.testing.assert_array_equal(run(spec, {"x": x})["out"], x)
