"""The convolution engine's kernels: the micro-kernel's store epilogue and narrow block, the
direct (im2col-free) convolution of windows that lie inside the input, and whole float32
convolution layers against a float64 numpy reference over randomized shapes.

Exactness where the engine promises it (the same fma chains as the im2col product and the
separate epilogue pass, bit for bit); elsewhere float32 against float64 with
``rtol = atol = 2e-5`` on outputs of order 1 (a chain of up to 1,152 float32 fmas is
accurate to about ``sqrt(K) * 2^-24`` relative to the sum of the absolute terms).
"""

from __future__ import annotations

import numpy as np
import pytest

from runtime.kernels import gemm, pool, window_max
from runtime.kernels.conv import _np_im2col
from runtime.kernels.elementwise import IDENTITY, RELU, SIGMOID
from runtime.kernels.jit import is_compiled
from runtime.kernels.matmul import matmul_epilogue_into, matmul_into
from runtime.kernels.microkernel import EPILOGUE_BIAS, EPILOGUE_BIAS_RELU, NR, W
from runtime.nn.layers import _conv_ops
from runtime.nn.layers._fused import Activation
from runtime.nn.layers._window import Window
from runtime.nn.layers.convolution import ConvolutionAttrs

TOLERANCE = 2e-5

pytestmark = pytest.mark.skipif(
    not is_compiled(matmul_into), reason="the engine's kernels are compiled numba kernels"
)


def _separate_epilogue(z, bias, relu):
    y = (z + bias).astype(np.float32)
    return np.where(y <= 0, np.float32(0), y) if relu else y


def test_store_epilogue_is_the_separate_pass_bit_for_bit():
    rng = np.random.default_rng(0)
    widths = [1, W - 1, W, W + 1, NR - 1, NR, NR + W, NR + W + 1, 2 * NR + 3]
    for trial in range(60):
        m = int(rng.integers(1, 40))
        n = widths[trial % len(widths)]
        k = int(rng.choice([1, 3, 27, 256, 257, int(rng.integers(1, 1153))]))
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        bias = rng.standard_normal(n).astype(np.float32)
        a[0, :] = 0.0  # a row of exact zeros: +0 and -0 chains
        b[:, 0] = np.nan if trial % 7 == 0 else b[:, 0]  # NaN survives ReLU
        bare = np.empty((m, n), np.float32)
        matmul_into(a, b, bare)
        for mode, relu in ((EPILOGUE_BIAS, False), (EPILOGUE_BIAS_RELU, True)):
            fused = np.full((m, n + 2), 9.0, np.float32)
            matmul_epilogue_into(a, b, fused[:, 1 : n + 1], bias, mode)
            expected = _separate_epilogue(bare, bias, relu)
            np.testing.assert_array_equal(fused[:, 1 : n + 1], expected)
            assert (fused[:, 0] == 9).all() and (fused[:, -1] == 9).all()


def test_narrow_and_wide_blocks_give_each_row_the_same_bits():
    """A row computed alone (ragged blocks) equals the same row inside a tall product (whole
    blocks), for column counts the narrow block takes over."""
    rng = np.random.default_rng(1)
    for n in (1, W // 2, W, NR + 1, NR + W):
        k = int(rng.integers(1, 700))
        a = rng.standard_normal((50, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        whole = np.empty((50, n), np.float32)
        matmul_into(a, b, whole)
        np.testing.assert_allclose(whole, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)
        for row in (0, 13, 49):
            alone = np.empty((1, n), np.float32)
            matmul_into(a[row : row + 1], b, alone)
            np.testing.assert_array_equal(alone[0], whole[row])


def _valid_geometry(rng):
    kh, kw = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    sh, sw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    dh = int(rng.integers(1, 3))
    channels = int(rng.choice([1, 3, 4, 6, 17, int(rng.integers(1, 1152 // (kh * kw) + 1))]))
    height = (kh - 1) * dh + 1 + int(rng.integers(0, 12))
    width = kw + int(rng.integers(0, 12))
    ho, wo = (height - (kh - 1) * dh - 1) // sh + 1, (width - kw) // sw + 1
    return kh, kw, sh, sw, dh, channels, height, width, ho, wo


@pytest.mark.parametrize("code", [IDENTITY, RELU, SIGMOID])
def test_direct_convolution_is_the_im2col_product_bit_for_bit(code):
    """Windows inside the input read their rows of x in place (``gemm._direct_line``) where
    the runs are short: the same chains as im2col followed by the product, so the same bits,
    with the epilogue; the other cases take im2col, with the same bits too."""
    rng = np.random.default_rng(2 + code)
    direct = 0
    for _ in range(16):
        kh, kw, sh, sw, dh, channels, height, width, ho, wo = _valid_geometry(rng)
        batch, cout = int(rng.integers(1, 17)), int(rng.integers(1, 70))
        x = rng.standard_normal((batch, height, width, channels)).astype(np.float32)
        w = (rng.standard_normal((kh * kw * channels, cout)) / 8).astype(np.float32)
        bias = rng.standard_normal(cout).astype(np.float32)
        alpha = beta = np.ones(cout, np.float32)
        out = np.full((batch, ho, wo, cout + 3), 5.0, np.float32)
        direct += gemm.reads_rows_in_place(x, 0, kh, kw, sh, sw, dh, 1, 0, 0, ho, wo, w.shape[0])
        cols = np.empty((wo, w.shape[0]), np.float32)
        geometry = (kh, kw, sh, sw, dh, 1, 0, 0)
        gemm.conv_tiles(x, 0, *geometry, w, bias, code, alpha, beta, True, 1, cols, out, 2)
        full = np.empty((batch, ho, wo, w.shape[0]), np.float32)
        _np_im2col(x, 0, *geometry, full)
        bare = np.empty((batch * ho * wo, cout), np.float32)
        matmul_into(full.reshape(-1, w.shape[0]), w, bare)
        got = out[..., 2 : 2 + cout].reshape(-1, cout)
        if code == SIGMOID:  # not a store epilogue: takes the im2col path and its own pass
            expected = 1 / (1 + np.exp(-(bare.astype(np.float64) + bias)))
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
        else:
            np.testing.assert_array_equal(got, _separate_epilogue(bare, bias, code == RELU))
        assert (out[..., :2] == 5).all() and (out[..., 2 + cout :] == 5).all()
    assert direct >= (0 if code == SIGMOID else 4)


def _reference(x, w, attrs, bias, relu):
    """float64 convolution by explicit window sums (NHWC, runtime weight layout)."""
    (kh, kw), (sh, sw), (dh, dw) = attrs.window.kernel, attrs.window.stride, attrs.window.dilation
    top, _, left, _ = attrs.window.pads
    ho, wo = attrs.window.out_hw
    batch, height, width, _ = x.shape
    g = attrs.groups
    cg, og = attrs.in_channels // g, attrs.out_channels // g
    padded = np.zeros((batch, height + 2 * kh * dh + top, width + 2 * kw * dw + left, x.shape[3]))
    padded[:, top : top + height, left : left + width] = x
    y = np.zeros((batch, ho, wo, attrs.out_channels))
    for group in range(g):
        weights = w[group].reshape(kh, kw, cg, og).astype(np.float64)
        for i in range(kh):
            for j in range(kw):
                rows = slice(i * dh, i * dh + sh * (ho - 1) + 1, sh)
                columns = slice(j * dw, j * dw + sw * (wo - 1) + 1, sw)
                taps = padded[:, rows, columns, group * cg : (group + 1) * cg]
                y[..., group * og : (group + 1) * og] += taps @ weights[i, j]
    y = y + (0 if bias is None else bias)
    return np.maximum(y, 0) if relu else y


def test_float32_convolutions_match_a_float64_reference_over_random_shapes():
    rng = np.random.default_rng(4)
    relu = Activation("ReLU", RELU, (0.0,), (0.0,))
    for trial in range(40):
        groups = int(rng.choice([1, 1, 2, 3]))
        kh, kw = int(rng.integers(1, 6)), int(rng.integers(1, 6))
        cg = int(rng.choice([1, 3, 16, int(rng.integers(1, 1152 // (kh * kw) + 1))]))
        og = int(rng.integers(1, 40))
        stride = (int(rng.integers(1, 3)), int(rng.integers(1, 4)))
        dilation = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        pads = tuple(int(p) for p in rng.integers(0, 3, 4))
        height, width = int(rng.integers(1, 14)), int(rng.integers(1, 14))
        span_h, span_w = (kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1
        ho = (height + pads[0] + pads[1] - span_h) // stride[0] + 1
        wo = (width + pads[2] + pads[3] - span_w) // stride[1] + 1
        if ho < 1 or wo < 1:
            continue
        window = Window((kh, kw), stride, dilation, pads, (ho, wo))
        fused = relu if trial % 2 else None
        attrs = ConvolutionAttrs(
            cg * groups, og * groups, groups, window, (height, width), False, True,
            None if fused is None else "ReLU", fused,
        )  # fmt: skip
        batch = int(rng.integers(1, 17))
        x = rng.standard_normal((batch, height, width, cg * groups)).astype(np.float32)
        w = (rng.standard_normal((groups, kh * kw * cg, og)) / np.sqrt(kh * kw * cg)).astype(
            np.float32
        )
        bias = rng.standard_normal(og * groups).astype(np.float32)
        z = np.empty((batch, ho, wo, og * groups), np.float32)
        _conv_ops.forward(attrs, w, x, z, bias, fused)
        expected = _reference(x.astype(np.float64), w, attrs, bias, fused is not None)
        np.testing.assert_allclose(
            z, expected, rtol=TOLERANCE, atol=TOLERANCE, err_msg=f"trial {trial}: {attrs}"
        )


def test_vector_max_pooling_is_the_loop_kernel_bit_for_bit():
    """Windows clipped by padding, empty windows, channel counts around the vector width, NaN
    and signed zeros (the first maximum in row-major order wins in both)."""
    rng = np.random.default_rng(5)
    for trial in range(40):
        kh, kw, sh, sw = (int(v) for v in rng.integers(1, 4, 4))
        top, left = int(rng.integers(0, 3)), int(rng.integers(0, 3))
        channels = int(rng.choice([1, W - 1, W, W + 1, 2 * W + 3, 64]))
        batch, height, width = (
            int(rng.integers(1, 17)),
            int(rng.integers(1, 12)),
            int(rng.integers(1, 12)),
        )
        x = rng.standard_normal((batch, height, width, channels)).astype(np.float32)
        x[rng.random(x.shape) < 0.05] = np.nan
        x[rng.random(x.shape) < 0.1] = 0.0
        x[rng.random(x.shape) < 0.1] = -0.0
        ho, wo = int(rng.integers(1, 8)), int(rng.integers(1, 8))  # some windows past the input
        bias = rng.standard_normal(channels).astype(np.float32)
        bias[: channels // 3] = 0.0
        zeros = np.zeros(channels, np.float32)
        for mode, code in ((1, IDENTITY), (2, RELU)):
            expected = np.full((batch, ho, wo, channels), 7.0, np.float32)
            pool.max_pool_bias_activation(
                x, kh, kw, sh, sw, top, left, bias, code, zeros, zeros, expected
            )
            got = np.full_like(expected, 3.0)
            window_max.max_pool_bias_relu(x, kh, kw, sh, sw, top, left, bias, mode, got)
            np.testing.assert_array_equal(np.signbit(got), np.signbit(expected))
            np.testing.assert_array_equal(got, expected, err_msg=f"trial {trial}, mode {mode}")
