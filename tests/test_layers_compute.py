"""Compute layers built from real layer protobufs (coremltools' builder) against torch.

Each case builds one layer with ``NeuralNetworkBuilder``, runs the runtime layer in float64
(parameters cast from the float32 Core ML weights) on a random NHWC batch, and compares it
with torch's float64 functional ops on the NCHW equivalent, for random shapes including odd
sizes, strides, dilations, groups and every padding mode.
"""

from __future__ import annotations

import numpy as np
import pytest

from runtime.nn.layers import get_kind
from tests.builders import conv_adder, dense_adder, pool_adder, single_layer_nn
from tests.layer_support import RTOL, nchw, nhwc, relu_layer, run_layer, torch_pads, weights_of
from tests.optional import needs, optional_import
from updatable.errors import ShapeError, UnsupportedLayerError

torch = optional_import("torch")
F = optional_import("torch.nn.functional")

# ---- convolution -------------------------------------------------------------------------

CONV_CASES = [
    # (cin, cout, groups, (kh, kw), (sh, sw), (dh, dw), padding, (h, w))
    (3, 5, 1, (3, 3), (1, 1), (1, 1), ("valid", (0, 0, 0, 0)), (7, 9)),
    (4, 6, 2, (3, 2), (2, 1), (1, 2), ("valid", (1, 2, 0, 1)), (9, 8)),
    (6, 6, 6, (3, 3), (2, 2), (1, 1), ("same", "BOTTOM_RIGHT_HEAVY"), (8, 7)),
    (3, 6, 3, (5, 3), (1, 2), (2, 1), ("same", "TOP_LEFT_HEAVY"), (11, 10)),
    (5, 7, 1, (1, 1), (1, 1), (1, 1), ("valid", (0, 0, 0, 0)), (5, 3)),
    (5, 7, 1, (1, 1), (2, 3), (1, 1), ("same", "BOTTOM_RIGHT_HEAVY"), (7, 8)),
    (2, 4, 1, (4, 4), (3, 3), (1, 1), ("same", "TOP_LEFT_HEAVY"), (10, 9)),
    (8, 4, 4, (2, 3), (1, 1), (2, 2), ("valid", (2, 0, 1, 3)), (6, 7)),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=[str(i) for i in range(len(CONV_CASES))])
@pytest.mark.parametrize("has_bias", [True, False])
@needs("torch")
def test_convolution_matches_torch(case, has_bias):
    cin, cout, groups, kernel, stride, dilation, padding, (h, w) = case
    add = conv_adder(
        cin, cout, groups, kernel, stride, dilation, padding, seed=cin + cout, has_bias=has_bias
    )
    layer, _ = single_layer_nn((cin, h, w), add)
    x = np.random.default_rng(1).standard_normal((2, h, w, cin))
    y, built = run_layer("convolution", layer, (cin, h, w), x)
    top, bottom, left, right = torch_pads(kernel, stride, dilation, padding, h, w)
    assert built.attrs.window.pads == (top, bottom, left, right)
    weight = torch.from_numpy(weights_of(layer.convolution).reshape(cout, cin // groups, *kernel))
    bias = torch.from_numpy(weights_of(layer.convolution, "bias")) if has_bias else None
    xt = F.pad(nchw(x), (left, right, top, bottom))
    ref = F.conv2d(xt, weight, bias, stride=stride, dilation=dilation, groups=groups)
    np.testing.assert_allclose(y, nhwc(ref), rtol=RTOL, atol=RTOL)


DECONV_CASES = [
    # (cin, cout, groups, kernel, stride, padding, output_shape, (h, w))
    (3, 4, 1, (3, 3), (2, 2), ("valid", (0, 0, 0, 0)), None, (4, 5)),
    (4, 6, 2, (3, 2), (2, 1), ("valid", (2, 3, 1, 0)), None, (5, 5)),
    (2, 3, 1, (4, 4), (2, 2), ("same", "BOTTOM_RIGHT_HEAVY"), None, (3, 4)),
    (2, 3, 1, (3, 5), (2, 3), ("same", "TOP_LEFT_HEAVY"), None, (4, 3)),
    (3, 2, 1, (3, 3), (2, 2), ("valid", (0, 0, 0, 0)), (8, 10), (4, 5)),
    (3, 2, 1, (3, 3), (2, 2), ("valid", (0, 0, 0, 0)), (10, 12), (4, 5)),
]


@pytest.mark.parametrize("case", DECONV_CASES, ids=[str(i) for i in range(len(DECONV_CASES))])
@needs("torch")
def test_deconvolution_matches_torch(case):
    cin, cout, groups, kernel, stride, padding, output_shape, (h, w) = case
    add = conv_adder(
        cin,
        cout,
        groups,
        kernel,
        stride,
        (1, 1),
        padding,
        seed=7,
        deconv=True,
        output_shape=output_shape,
    )
    layer, _ = single_layer_nn((cin, h, w), add)
    x = np.random.default_rng(2).standard_normal((2, h, w, cin))
    y, built = run_layer("convolution", layer, (cin, h, w), x)
    weight = torch.from_numpy(weights_of(layer.convolution).reshape(cin, cout // groups, *kernel))
    full = nhwc(F.conv_transpose2d(nchw(x), weight, stride=stride, groups=groups))
    # Core ML's output is the full transposed convolution cropped by (top, left) to the
    # output size, zero-extended where the output is larger; then the bias
    top, _, left, _ = built.attrs.window.pads
    ho, wo = built.attrs.window.out_hw
    expected = np.zeros((2, ho, wo, cout))
    rows, cols = min(ho, full.shape[1] - top), min(wo, full.shape[2] - left)
    expected[:, :rows, :cols] = full[:, top : top + rows, left : left + cols]
    expected += weights_of(layer.convolution, "bias")
    if output_shape:
        assert (ho, wo) == output_shape
    elif padding[0] == "same":
        assert (ho, wo) == (h * stride[0], w * stride[1])
    else:
        pads = padding[1]
        assert ho == (h - 1) * stride[0] + kernel[0] - pads[0] - pads[1]
    np.testing.assert_allclose(y, expected, rtol=RTOL, atol=RTOL)


def test_convolution_float32_with_fused_relu_writes_into_a_channel_slice():
    cin, cout, h, w = 4, 6, 9, 7
    layer, _ = single_layer_nn(
        (cin, h, w),
        conv_adder(cin, cout, 1, (3, 3), (1, 1), (1, 1), ("same", "BOTTOM_RIGHT_HEAVY"), 3),
    )
    x = np.random.default_rng(3).standard_normal((3, h, w, cin)).astype(np.float32)
    relu = get_kind("activation").build(relu_layer(cout), [(h, w, cout)]).attrs
    buffer = np.full((3, h, w, cout + 5), 7.0, np.float32)
    view = buffer[..., 2 : 2 + cout]
    y, _ = run_layer("convolution", layer, (cin, h, w), x, dtype=np.float32, out=[view], fuse=relu)
    assert y is view
    plain, _ = run_layer("convolution", layer, (cin, h, w), x)
    np.testing.assert_allclose(view, np.maximum(plain, 0), rtol=1e-5, atol=1e-5)
    assert (buffer[..., :2] == 7).all() and (buffer[..., 2 + cout :] == 7).all()


def test_export_and_import_round_trip_core_ml_layouts():
    for deconv, groups in ((False, 1), (False, 2), (True, 2)):
        add = conv_adder(
            4, 6, groups, (3, 2), (1, 1), (1, 1), ("valid", (0, 0, 0, 0)), 5, deconv=deconv
        )
        layer, _ = single_layer_nn((4, 6, 5), add)
        kind = get_kind("convolution")
        built = kind.build(layer, [(6, 5, 4)])
        exported = kind.export(built.attrs, built.params)
        core_ml = np.asarray(layer.convolution.weights.floatValue, np.float32)
        np.testing.assert_array_equal(exported["weights"].ravel(), core_ml)
        assert exported["weights"].shape == ((4, 3, 3, 2) if deconv else (6, 4 // groups, 3, 2))
        again = kind.import_(built.attrs, exported)
        np.testing.assert_array_equal(again["W"], built.params["W"])
    layer, _ = single_layer_nn((3, 2, 5), dense_adder(30, 4, seed=1))
    kind = get_kind("innerProduct")
    built = kind.build(layer, [(2, 5, 3)])
    exported = kind.export(built.attrs, built.params)
    np.testing.assert_array_equal(
        exported["weights"].ravel(), layer.innerProduct.weights.floatValue
    )
    np.testing.assert_array_equal(kind.import_(built.attrs, exported)["W"], built.params["W"])


def test_float16_and_raw_float32_weights_are_read_and_quantized_ones_refused():
    add = conv_adder(2, 3, 1, (3, 3), (1, 1), (1, 1), ("valid", (0, 0, 0, 0)), 9)
    layer, _ = single_layer_nn((2, 5, 5), add)
    values = np.asarray(layer.convolution.weights.floatValue, np.float32)
    kind = get_kind("convolution")
    reference = kind.build(layer, [(5, 5, 2)]).params["W"]
    layer.convolution.weights.ClearField("floatValue")
    layer.convolution.weights.float16Value = values.astype("<f2").tobytes()
    half = kind.build(layer, [(5, 5, 2)]).params["W"]
    np.testing.assert_allclose(half, reference, rtol=1e-3, atol=1e-3)
    layer.convolution.weights.ClearField("float16Value")
    layer.convolution.weights.rawValue = values.astype("<f4").tobytes()
    np.testing.assert_array_equal(kind.build(layer, [(5, 5, 2)]).params["W"], reference)
    layer.convolution.weights.quantization.numberOfBits = 8
    layer.convolution.weights.quantization.linearQuantization.scale.append(0.1)
    with pytest.raises(UnsupportedLayerError, match=r"layer 'conv' \(convolution\).*quantized"):
        kind.build(layer, [(5, 5, 2)])


def test_convolution_build_errors_name_the_layer_and_the_mismatch():
    layer, _ = single_layer_nn(
        (4, 6, 6), conv_adder(4, 6, 2, (3, 3), (1, 1), (1, 1), ("valid", (0, 0, 0, 0)), 1)
    )
    with pytest.raises(
        ShapeError, match=r"layer 'conv'.*kernelChannels must be 3.*got kernelChannels = 2"
    ):
        get_kind("convolution").build(layer, [(6, 6, 6)])
    with pytest.raises(ShapeError, match=r"layer 'conv'.*does not fit the input"):
        get_kind("convolution").build(layer, [(2, 2, 4)])


# ---- innerProduct ------------------------------------------------------------------------


@pytest.mark.parametrize(("in_chw", "cout"), [((7,), 5), ((3, 2, 5), 4), ((1, 1, 9), 3)])
@needs("torch")
def test_inner_product_contracts_c_h_w_in_core_ml_order(in_chw, cout):
    cin = int(np.prod(in_chw))
    layer, _ = single_layer_nn(in_chw, dense_adder(cin, cout, seed=cin))
    c, h, w = (*in_chw, 1, 1)[:3]
    x = np.random.default_rng(4).standard_normal((3, h, w, c))
    y, _ = run_layer("innerProduct", layer, (c, h, w), x)
    weight = torch.from_numpy(weights_of(layer.innerProduct).reshape(cout, cin))
    ref = F.linear(
        nchw(x).reshape(3, -1), weight, torch.from_numpy(weights_of(layer.innerProduct, "bias"))
    )
    np.testing.assert_allclose(y.reshape(3, cout), ref.numpy(), rtol=RTOL, atol=RTOL)


@needs("torch")
def test_inner_product_rank3_input_contracts_the_last_axis():
    # rank 3 (x1, x2, x3) -> (x1 * x2, x3) @ W^T -> (x1, x2, C_out)   (NeuralNetwork.proto)
    x1, x2, x3, cout = 2, 3, 5, 4
    layer, _ = single_layer_nn((x1, x2, x3), dense_adder(x3, cout, seed=3))
    layer.inputTensor.add(rank=3)
    x = np.random.default_rng(5).standard_normal((2, x2, x3, x1))  # NHWC of [C=x1, H=x2, W=x3]
    y, built = run_layer("innerProduct", layer, (x1, x2, x3), x)
    assert built.out_shapes == [(x2, cout, x1)]
    weight = torch.from_numpy(weights_of(layer.innerProduct).reshape(cout, x3))
    core_ml_x = nchw(x)  # (N, x1, x2, x3)
    ref = F.linear(core_ml_x, weight, torch.from_numpy(weights_of(layer.innerProduct, "bias")))
    np.testing.assert_allclose(y, nhwc(ref), rtol=RTOL, atol=RTOL)


# ---- pooling -----------------------------------------------------------------------------

POOL_CASES = [
    # (kernel, stride, padding, (h, w))
    ((3, 3), (2, 2), ("valid", (0, 0, 0, 0)), (9, 8)),
    ((2, 3), (1, 2), ("valid", (1, 0, 2, 1)), (7, 9)),
    ((3, 3), (2, 2), ("same", "BOTTOM_RIGHT_HEAVY"), (8, 7)),
    ((4, 2), (3, 1), ("same", "TOP_LEFT_HEAVY"), (10, 5)),
    ((3, 3), (2, 2), ("includeLastPixel", (1, 1)), (8, 9)),
    ((2, 3), (2, 2), ("includeLastPixel", (1, 0)), (7, 6)),
    ((3, 3), (2, 2), ("includeLastPixel", (0, 0)), (8, 8)),
    (None, None, ("global", None), (5, 7)),
]


def _pool_reference(kind, t, kernel, stride, pads, ceil_pad, exclude):
    """torch pooling over NCHW ``t`` with explicit (t, b, l, r) pads, or ceil mode + padding."""

    def sums(v, value=0.0):
        if ceil_pad is not None:
            return F.avg_pool2d(v, kernel, stride, ceil_pad, ceil_mode=True, divisor_override=1)
        return F.avg_pool2d(F.pad(v, pads, value=value), kernel, stride, divisor_override=1)

    if kind == "MAX":
        if ceil_pad is not None:
            return F.max_pool2d(t, kernel, stride, ceil_pad, ceil_mode=True)
        return F.max_pool2d(F.pad(t, pads, value=-np.inf), kernel, stride)
    if kind == "L2":
        return torch.sqrt(sums(t * t))
    if ceil_pad is not None:
        return F.avg_pool2d(
            t, kernel, stride, ceil_pad, ceil_mode=True, count_include_pad=not exclude
        )
    count = sums(torch.ones_like(t)) if exclude else kernel[0] * kernel[1]
    return sums(t) / count


@pytest.mark.parametrize("kind", ["MAX", "AVERAGE", "L2"])
@pytest.mark.parametrize(
    "case", POOL_CASES, ids=[c[2][0] + str(i) for i, c in enumerate(POOL_CASES)]
)
@pytest.mark.parametrize("exclude", [False, True])
@needs("torch")
def test_pooling_matches_torch(kind, case, exclude):
    if exclude and kind != "AVERAGE":
        return  # avgPoolExcludePadding only changes average pooling
    kernel, stride, padding, (h, w) = case
    c = 3
    layer, _ = single_layer_nn((c, h, w), pool_adder(kind, kernel, stride, padding, exclude))
    x = np.random.default_rng(11).standard_normal((2, h, w, c))
    y, built = run_layer("pooling", layer, (c, h, w), x)
    t = nchw(x)
    mode = padding[0]
    if mode == "global":
        ref = {
            "MAX": t.amax(dim=(2, 3), keepdim=True),
            "AVERAGE": t.mean(dim=(2, 3), keepdim=True),
            "L2": torch.sqrt((t * t).sum(dim=(2, 3), keepdim=True)),
        }[kind]
    elif mode == "includeLastPixel":
        ref = _pool_reference(kind, t, kernel, stride, None, padding[1], exclude)
    else:
        top, bottom, left, right = built.attrs.window.pads
        ref = _pool_reference(kind, t, kernel, stride, (left, right, top, bottom), None, exclude)
    np.testing.assert_allclose(y, nhwc(ref), rtol=RTOL, atol=RTOL)


@needs("torch")
def test_pooling_writes_into_a_channel_slice():
    layer, _ = single_layer_nn(
        (3, 7, 7), pool_adder("MAX", (3, 3), (2, 2), ("valid", (0, 0, 0, 0)), False)
    )
    x = np.random.default_rng(12).standard_normal((2, 7, 7, 3)).astype(np.float32)
    buffer = np.zeros((2, 3, 3, 8), np.float32)
    run_layer("pooling", layer, (3, 7, 7), x, dtype=np.float32, out=[buffer[..., 4:7]])
    expected = nhwc(F.max_pool2d(nchw(x), 3, 2))
    np.testing.assert_array_equal(buffer[..., 4:7], expected)
    assert not buffer[..., :4].any() and not buffer[..., 7:].any()


def test_inner_product_with_fused_activation_writes_into_a_channel_slice():
    layer, _ = single_layer_nn((3, 2, 5), dense_adder(30, 4, seed=2))
    x = np.random.default_rng(14).standard_normal((3, 2, 5, 3))
    relu = get_kind("activation").build(relu_layer(4), [(1, 1, 4)]).attrs
    buffer = np.full((3, 1, 1, 9), 5.0)
    y, _ = run_layer("innerProduct", layer, (3, 2, 5), x, out=[buffer[..., 2:6]], fuse=relu)
    assert np.shares_memory(y, buffer)
    plain, _ = run_layer("innerProduct", layer, (3, 2, 5), x)
    np.testing.assert_array_equal(buffer[..., 2:6], np.maximum(plain, 0))
    assert (buffer[..., :2] == 5).all() and (buffer[..., 6:] == 5).all()
