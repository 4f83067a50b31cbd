"""3-D layers: ``convolution3d`` (every padding type, groups, dilation, strides, the transpose),
``pooling3d`` (max and average, padding counted or not) and ``globalPooling3d``, against torch's
``conv3d`` / ``conv_transpose3d`` / ``max_pool3d`` / ``avg_pool3d`` in float64 with the
weights copied, and a torch model converted by coremltools end to end.

Padding amounts of ``SAME`` are computed here from the proto's rule (output ``ceil(X / s)``,
the odd padding after) and handed to torch as explicit pads; the proto's worked example pins
the rule itself.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import runtime
from runtime.nn.graph import compile_network
from tests.nd_networks import network, run
from tests.optional import needs, optional_import
from updatable.errors import ShapeError

torch = optional_import("torch")
F = optional_import("torch.nn.functional")


def f32(values):
    """Values as the proto stores them (float32), in float64."""
    return None if values is None else np.float32(values).astype(np.float64)


def same_pads(size, kernel, stride, dilation=1):
    out = -(-size // stride)
    total = max(0, (out - 1) * stride + dilation * (kernel - 1) + 1 - size)
    return total // 2, total - total // 2


def torch_pads(pads):
    """(before, after) per D, H, W -> F.pad's order (W first)."""
    (f, b), (t, bo), (left, r) = pads
    return (left, r, t, bo, f, b)


CONV_CASES = [
    # (C, C', groups, kernel, stride, dilation, padding, custom pads, spatial)
    (2, 4, 1, (3, 3, 3), (1, 1, 1), (1, 1, 1), "valid", None, (5, 6, 7)),
    (4, 6, 2, (2, 3, 1), (2, 1, 3), (1, 2, 1), "valid", None, (6, 7, 8)),
    (3, 3, 3, (3, 2, 2), (1, 2, 2), (2, 1, 1), "same", None, (5, 5, 6)),
    (2, 4, 2, (3, 3, 3), (2, 2, 2), (1, 1, 1), "same", None, (3, 8, 8)),
    (2, 2, 1, (2, 2, 3), (1, 1, 2), (1, 2, 1), "custom", ((1, 0), (2, 1), (0, 3)), (4, 5, 6)),
]


def conv3d_network(
    cin,
    cout,
    groups,
    kernel,
    stride,
    dilation,
    padding,
    pads,
    spatial,
    *,
    weights,
    bias,
    lead=(1,),
    deconv=False,
    output_shape=None,
):
    extra = {}
    if padding == "custom":
        names = ("front", "back", "top", "bottom", "left", "right")
        extra = {f"padding_{n}": v for n, v in zip(names, np.ravel(pads), strict=True)}
    return network(
        {"x": (*lead, cin, *spatial)},
        lambda b: b.add_convolution3d(
            "conv",
            cin,
            cout,
            *kernel,
            weights,
            bias,
            bias is not None,
            groups=groups,
            stride_depth=stride[0],
            stride_height=stride[1],
            stride_width=stride[2],
            dilation_depth=dilation[0],
            dilation_height=dilation[1],
            dilation_width=dilation[2],
            is_deconv=deconv,
            output_shape=output_shape,
            padding_mode=padding,
            input_name="x",
            output_name="out",
            **extra,
        ),
    )


@pytest.mark.parametrize("case", CONV_CASES, ids=[f"{c[6]}-g{c[2]}" for c in CONV_CASES])
@pytest.mark.parametrize("with_bias", [True, False])
@needs("torch")
def test_convolution3d_matches_torch_conv3d(case, with_bias):
    cin, cout, groups, kernel, stride, dilation, padding, pads, spatial = case
    rng = np.random.default_rng(cin * cout + groups)
    w = f32(rng.standard_normal((cout, cin // groups, *kernel)))
    b = f32(rng.standard_normal(cout)) if with_bias else None
    spec = conv3d_network(
        cin,
        cout,
        groups,
        kernel,
        stride,
        dilation,
        padding,
        pads,
        spatial,
        weights=w,
        bias=b,
        lead=(2,),
    )
    x = rng.standard_normal((3, 2, cin, *spatial))
    if padding == "same":
        pads = [same_pads(*args) for args in zip(spatial, kernel, stride, dilation, strict=True)]
    padded = F.pad(torch.from_numpy(x.reshape(6, cin, *spatial)), torch_pads(pads or [(0, 0)] * 3))
    expected = F.conv3d(
        padded,
        torch.from_numpy(w),
        None if b is None else torch.from_numpy(b),
        stride=stride,
        dilation=dilation,
        groups=groups,
    ).numpy()
    out = run(spec, {"x": x})["out"]
    np.testing.assert_allclose(out.reshape(expected.shape), expected, rtol=1e-10, atol=1e-10)


def test_same_padding_follows_the_protos_worked_example():
    """[1, 3, 3, 8, 8], stride 2, kernel 3, same: pads (front, back, top, bottom, left,
    right) = (1, 1, 0, 1, 0, 1), output [1, 2, 2, 4, 4]."""
    assert [same_pads(s, 3, 2) for s in (3, 8, 8)] == [(1, 1), (0, 1), (0, 1)]
    w = np.ones((2, 3, 3, 3, 3))
    spec = conv3d_network(
        3, 2, 1, (3, 3, 3), (2, 2, 2), (1, 1, 1), "same", None, (3, 8, 8), weights=w, bias=None
    )
    out = run(spec, {"x": np.ones((1, 1, 3, 3, 8, 8))})["out"]
    assert out.shape == (1, 1, 2, 2, 4, 4)
    # the first output sums a window with one padded plane before: 2 * 3 * 3 * 3 channels
    assert out[0, 0, 0, 0, 0, 0] == 2 * 3 * 3 * 3


DECONV_CASES = [
    # (C, C', groups, kernel, stride, dilation, torch padding, output padding, spatial)
    (2, 3, 1, (3, 3, 3), (2, 2, 2), (1, 1, 1), (1, 1, 1), (0, 0, 0), (3, 4, 2)),
    (4, 2, 2, (2, 3, 2), (1, 2, 3), (1, 1, 2), (0, 1, 0), (0, 1, 2), (2, 3, 3)),
    (3, 6, 3, (1, 2, 3), (3, 1, 2), (2, 2, 1), (0, 0, 1), (2, 0, 1), (2, 4, 3)),
]


@pytest.mark.parametrize("case", DECONV_CASES)
@needs("torch")
def test_transposed_convolution3d_matches_torch_conv_transpose3d(case):
    cin, cout, groups, kernel, stride, dilation, padding, extra, spatial = case
    rng = np.random.default_rng(cin + cout)
    w = f32(rng.standard_normal((cin, cout // groups, *kernel)))  # torch's, Core ML's layout
    b = f32(rng.standard_normal(cout))
    x = rng.standard_normal((2, 1, cin, *spatial))
    expected = F.conv_transpose3d(
        torch.from_numpy(x[:, 0]),
        torch.from_numpy(w),
        torch.from_numpy(b),
        stride=stride,
        padding=padding,
        output_padding=extra,
        groups=groups,
        dilation=dilation,
    ).numpy()
    pads = [(p, p) for p in padding]
    # coremltools' builder takes [C'/G, C, ...] for a transpose and stores [C, C'/G, ...]
    spec = conv3d_network(
        cin,
        cout,
        groups,
        kernel,
        stride,
        dilation,
        "custom",
        pads,
        spatial,
        weights=w.transpose(1, 0, 2, 3, 4),
        bias=b,
        deconv=True,
        output_shape=expected.shape[2:],
    )
    out = run(spec, {"x": x})["out"]
    np.testing.assert_allclose(out[:, 0], expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_a_transpose_without_output_shape_takes_its_size_from_the_padding(padding):
    rng = np.random.default_rng(1)
    w = rng.standard_normal((2, 2, 3, 3, 3))
    spec = conv3d_network(
        2,
        2,
        1,
        (3, 3, 3),
        (2, 2, 2),
        (1, 1, 1),
        padding,
        None,
        (3, 4, 5),
        weights=w,
        bias=None,
        deconv=True,
    )
    out = run(spec, {"x": rng.standard_normal((1, 1, 2, 3, 4, 5))})["out"]
    full = [(n - 1) * 2 + 3 for n in (3, 4, 5)]  # 7, 9, 11
    assert out.shape[-3:] == (tuple(full) if padding == "valid" else (6, 8, 10))


def test_convolution3d_refuses_what_core_ml_refuses():
    w = np.ones((4, 2, 1, 1, 1))

    def spec(**changes):
        made = conv3d_network(
            2, 4, 1, (1, 1, 1), (1, 1, 1), (1, 1, 1), "valid", None, (2, 2, 2), weights=w, bias=None
        )
        for field, value in changes.items():
            setattr(made.neuralNetwork.layers[0].convolution3d, field, value)
        return made

    with pytest.raises(ShapeError, match=r"'conv' \(convolution3d\): inputChannels 3"):
        compile_network(spec(inputChannels=3))
    with pytest.raises(ShapeError, match="nGroups 3 must be positive, nGroups dividing both"):
        compile_network(spec(nGroups=3))
    with pytest.raises(ShapeError, match=r"strides \(depth, height, width\) must be positive"):
        compile_network(spec(strideDepth=0))
    with pytest.raises(ShapeError, match="weights has 8 values; expected 4"):
        compile_network(spec(nGroups=2))
    with pytest.raises(ShapeError, match="the window does not fit the input"):
        compile_network(spec(kernelDepth=3, nGroups=1))
    with pytest.raises(ShapeError, match="rank 5 or more"):
        compile_network(
            network(
                {"x": (2, 2, 2, 2)},
                lambda b: b.add_convolution3d(
                    "conv", 2, 4, 1, 1, 1, w, None, False, input_name="x", output_name="out"
                ),
            )
        )


# ---- pooling --------------------------------------------------------------------------------


POOL_CASES = [
    ((2, 2, 2), (2, 2, 2), "valid", None, (4, 6, 5)),
    ((3, 2, 3), (1, 2, 2), "same", None, (5, 5, 7)),
    ((3, 3, 3), (2, 2, 2), "custom", ((1, 1), (0, 1), (1, 0)), (5, 6, 6)),
]


@pytest.mark.parametrize("case", POOL_CASES, ids=[c[2] for c in POOL_CASES])
@pytest.mark.parametrize("kind, exclude", [("MAX", False), ("AVERAGE", False), ("AVERAGE", True)])
@needs("torch")
def test_pooling3d_matches_torch_pooling(case, kind, exclude):
    kernel, stride, padding, pads, spatial = case
    if padding == "same":
        pads = [same_pads(*args) for args in zip(spatial, kernel, stride, strict=True)]
    pads = pads or [(0, 0)] * 3
    names = ("front", "back", "top", "bottom", "left", "right")
    custom = {f"custom_padding_{n}": v for n, v in zip(names, np.ravel(pads), strict=True)}
    spec = network(
        {"x": (2, 3, *spatial)},
        lambda b: b.add_pooling3d(
            "pool",
            "x",
            "out",
            kind,
            *kernel,
            *stride,
            padding_mode=padding,
            average_pooling_count_excludes_padding=exclude,
            **(custom if padding == "custom" else {}),
        ),
    )
    x = np.random.default_rng(len(spatial)).standard_normal((2, 2, 3, *spatial)) - 1.0
    images = torch.from_numpy(x.reshape(4, 3, *spatial))
    if kind == "MAX":
        padded = F.pad(images, torch_pads(pads), value=-math.inf)
        expected = F.max_pool3d(padded, kernel, stride)
    else:
        expected = F.avg_pool3d(F.pad(images, torch_pads(pads)), kernel, stride)
        if exclude:
            ones = F.pad(torch.ones_like(images), torch_pads(pads))
            expected = expected / F.avg_pool3d(ones, kernel, stride)
    out = run(spec, {"x": x})["out"]
    np.testing.assert_allclose(out.reshape(expected.shape), expected.numpy(), rtol=1e-12)


@pytest.mark.parametrize("kind", ["MAX", "AVERAGE"])
def test_global_pooling3d_reduces_depth_height_and_width(kind):
    x = np.random.default_rng(0).standard_normal((2, 1, 3, 2, 4, 5))
    spec = network(
        {"x": (1, 3, 2, 4, 5)}, lambda b: b.add_global_pooling3d("pool", "x", "out", kind)
    )
    reduce = np.max if kind == "MAX" else np.mean
    np.testing.assert_allclose(
        run(spec, {"x": x})["out"], reduce(x, axis=(-3, -2, -1), keepdims=True), rtol=1e-12
    )


def test_global_max_pooling3d_of_the_protos_example_is_18():
    spec = network(
        {"x": (1, 1, 2, 3, 3)}, lambda b: b.add_global_pooling3d("pool", "x", "out", "MAX")
    )
    x = np.arange(1.0, 19.0).reshape(1, 1, 1, 2, 3, 3)
    assert run(spec, {"x": x})["out"].item() == 18.0


# ---- a converted torch model ----------------------------------------------------------------


@needs("torch")
@pytest.mark.parametrize("target", ["iOS14"])
def test_a_converted_torch_3d_network_predicts_what_torch_computes(target):
    import coremltools as ct

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv3d(2, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool3d(2),
        torch.nn.Conv3d(4, 6, (1, 3, 3), stride=(1, 2, 1), groups=2, dilation=(1, 1, 2)),
        torch.nn.AvgPool3d((1, 2, 2), padding=(0, 1, 1)),
        torch.nn.ConvTranspose3d(6, 3, 3, stride=2, padding=1),
    ).eval()
    example = torch.rand(1, 2, 4, 12, 12)
    traced = torch.jit.trace(model, example)
    spec = ct.convert(
        traced,
        inputs=[ct.TensorType(name="x", shape=example.shape)],
        convert_to="neuralnetwork",
        minimum_deployment_target=getattr(ct.target, target),
    ).get_spec()
    kinds = {layer.WhichOneof("layer") for layer in spec.neuralNetwork.layers}
    assert {"convolution3d", "pooling3d"} <= kinds
    batch = torch.rand(3, 2, 4, 12, 12)
    with torch.no_grad():
        expected = model(batch).numpy()
    outputs = runtime.Model.load(spec).predict_batch([{"x": b[None].numpy()} for b in batch])
    got = np.stack([np.reshape(next(iter(o.values())), expected.shape[1:]) for o in outputs])
    error = np.abs(got - expected).max() / np.abs(expected).max()
    assert error <= 1e-5, error
