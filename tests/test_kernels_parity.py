"""Every numba kernel against its numpy twin, on random shapes including odd sizes.

``CASES`` maps a kernel's qualified name (``module.kernel``, as ``runtime.kernels.pairs()``
yields it) to a function ``rng, dtype -> (args, written)``: the arguments of one call and the
indices of the arguments the kernel writes. Both versions run on separate copies; their
return values and every written argument must agree.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from runtime import kernels
from runtime.kernels import elementwise as ew

# kernel modules whose cases live here; other modules carry their own parity tests
MODULES = ("conv", "elementwise", "gemm", "matmul", "pool", "softmax", "window_max")


def _geometry(rng, dilation=True):
    kh, kw = (int(v) for v in rng.integers(1, 4, 2))
    sh, sw = (int(v) for v in rng.integers(1, 4, 2))
    dh, dw = (int(v) for v in rng.integers(1, 3, 2)) if dilation else (1, 1)
    pt, pl = (int(v) for v in rng.integers(0, 3, 2))
    return kh, kw, sh, sw, dh, dw, pt, pl


def _out_size(size, k, s, d, pad_before, pad_after):
    return (size + pad_before + pad_after - (k - 1) * d - 1) // s + 1


def _input(rng, dtype, channels=None):
    n = int(rng.integers(1, 4))
    h, w = (int(v) for v in rng.integers(4, 10, 2))
    c = channels or int(rng.integers(1, 6))
    return rng.standard_normal((n, h, w, c)).astype(dtype)


def _conv_setup(rng, dtype):
    x = _input(rng, dtype)
    kh, kw, sh, sw, dh, dw, pt, pl = _geometry(rng)
    ho = _out_size(x.shape[1], kh, sh, dh, pt, int(rng.integers(0, 3)))
    wo = _out_size(x.shape[2], kw, sw, dw, pl, int(rng.integers(0, 3)))
    return x, (kh, kw, sh, sw, dh, dw, pt, pl), max(ho, 1), max(wo, 1)


def _im2col(rng, dtype):
    x, geometry, ho, wo = _conv_setup(rng, dtype)
    c0 = int(rng.integers(0, x.shape[3]))
    cg = int(rng.integers(1, x.shape[3] - c0 + 1))
    cols = np.full((x.shape[0], ho, wo, geometry[0] * geometry[1] * cg), np.nan, dtype)
    return [x, c0, *geometry, cols], [10]


def _col2im(rng, dtype):
    x, geometry, ho, wo = _conv_setup(rng, dtype)
    c0 = int(rng.integers(0, x.shape[3]))
    cg = int(rng.integers(1, x.shape[3] - c0 + 1))
    cols = rng.standard_normal((x.shape[0], ho, wo, geometry[0] * geometry[1] * cg)).astype(dtype)
    return [cols, c0, *geometry, x], [10]


def _depthwise(rng, dtype, what):
    x, geometry, ho, wo = _conv_setup(rng, dtype)
    cout = x.shape[3] * int(rng.integers(1, 3))
    w = rng.standard_normal((geometry[0] * geometry[1], cout)).astype(dtype)
    z = rng.standard_normal((x.shape[0], ho, wo, cout)).astype(dtype)
    if what == "forward":
        return [x, w, *geometry, z], [10]
    if what == "input":
        return [z, w, *geometry, x], [10]
    return [z, x, *geometry, w], [10]


def _rows_and_out(rng, dtype, strided):
    rows, channels = int(rng.integers(1, 40)), int(rng.integers(1, 9))
    z = (3 * rng.standard_normal((rows, channels))).astype(dtype)
    if strided:  # a channel slice of a wider buffer, as concat outputs are
        out = np.zeros((rows, channels + 3), dtype)[:, 1 : 1 + channels]
    else:
        out = np.zeros((rows, channels), dtype)
    return z, out


def _bias_activation(rng, dtype):
    code = int(rng.integers(0, 14))
    z, out = _rows_and_out(rng, dtype, strided=bool(rng.integers(0, 2)))
    c = z.shape[1]
    bias = rng.standard_normal(c).astype(dtype)
    alpha = rng.uniform(0.1, 1.5, c).astype(dtype)
    beta = rng.uniform(0.1, 1.5, c).astype(dtype)
    return [z, bias, code, alpha, beta, out], [5]


def _bias_activation_block(rng, dtype):
    code = int(rng.integers(0, 14))
    z, _ = _rows_and_out(rng, dtype, strided=False)
    c0 = int(rng.integers(0, 4))
    buffer = rng.standard_normal((z.shape[0], c0 + z.shape[1] + int(rng.integers(0, 3))))
    c = z.shape[1]
    bias = rng.standard_normal(c).astype(dtype)
    alpha, beta = rng.uniform(0.1, 1.5, (2, c)).astype(dtype)
    return [buffer.astype(dtype), c0, bias, code, alpha, beta], [0]


def _activation_grad(rng, dtype):
    code = int(rng.choice(ew.DIFFERENTIABLE))
    z, dz = _rows_and_out(rng, dtype, strided=False)
    y = np.empty_like(z)
    c = z.shape[1]
    ew.bias_activation(z, np.zeros(c, dtype), code, np.ones(c, dtype), np.ones(c, dtype), y)
    return [y, rng.standard_normal(z.shape).astype(dtype), code, dz], [3]


def _scale_shift(rng, dtype):
    x, out = _rows_and_out(rng, dtype, strided=True)
    c = x.shape[1]
    return [x, *rng.standard_normal((2, c)).astype(dtype), out], [3]


def _channels_last(rng, dtype):
    n, c = (int(v) for v in rng.integers(1, 5, 2))
    h, w = (int(v) for v in rng.integers(1, 9, 2))
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    return [x, np.empty((n, h, w, c), dtype)], [1]


def _epilogue_args(rng, dtype, channels):
    bias = rng.standard_normal(channels).astype(dtype)
    alpha, beta = rng.uniform(0.1, 1.5, (2, channels)).astype(dtype)
    return [bias, int(rng.integers(0, 14)), alpha, beta, bool(rng.integers(0, 2))]


def _matmul_tiles(rng, dtype):
    rows, k, n = int(rng.integers(1, 60)), int(rng.integers(1, 20)), int(rng.integers(1, 9))
    a = rng.standard_normal((rows, k)).astype(dtype)
    w = rng.standard_normal((k, n)).astype(dtype)
    o0 = int(rng.integers(0, 3))
    out = np.zeros((rows, o0 + n + int(rng.integers(0, 3))), dtype)
    tile = int(rng.integers(1, rows + 2))
    return [a, w, *_epilogue_args(rng, dtype, n), tile, out, o0], [8]


def _conv_tiles(rng, dtype):
    x, geometry, ho, wo = _conv_setup(rng, dtype)
    c0 = int(rng.integers(0, x.shape[3]))
    cg = int(rng.integers(1, x.shape[3] - c0 + 1))
    k, n = geometry[0] * geometry[1] * cg, int(rng.integers(1, 7))
    w = rng.standard_normal((k, n)).astype(dtype)
    o0 = int(rng.integers(0, 3))
    out = np.zeros((x.shape[0], ho, wo, o0 + n + int(rng.integers(0, 3))), dtype)
    lines = int(rng.integers(1, x.shape[0] * ho + 2))
    cols = np.full((min(lines, x.shape[0] * ho) * wo, k), np.nan, dtype)
    epilogue = _epilogue_args(rng, dtype, n)
    return [x, c0, *geometry, w, *epilogue, lines, cols, out, o0], [18]


def _pool_setup(rng, dtype):
    x = _input(rng, dtype)
    kh, kw, sh, sw, _, _, pt, pl = _geometry(rng, dilation=False)
    pb, pr = (int(v) for v in rng.integers(0, 3, 2))
    ho = max(_out_size(x.shape[1], kh, sh, 1, pt, pb), 1)
    wo = max(_out_size(x.shape[2], kw, sw, 1, pl, pr), 1)
    y = np.zeros((x.shape[0], ho, wo, x.shape[3]), dtype)
    return x, (kh, kw, sh, sw, pt, pl), (pb, pr), y


def _max_pool(rng, dtype):
    x, geometry, _, y = _pool_setup(rng, dtype)
    argmax = np.zeros(y.shape, np.int64) if rng.integers(0, 2) else np.zeros((0,) * 4, np.int64)
    return [x, *geometry, y, argmax], [7, 8]


def _max_pool_bias_activation(rng, dtype):
    x, geometry, _, y = _pool_setup(rng, dtype)
    c = x.shape[3]
    code = int(rng.integers(0, 14))
    bias = rng.standard_normal(c).astype(dtype)
    alpha, beta = rng.uniform(0.1, 1.5, (2, c)).astype(dtype)
    return [x, *geometry, bias, code, alpha, beta, y], [11]


def _max_pool_bias_relu(rng, dtype):
    x, geometry, _, y = _pool_setup(rng, dtype)
    bias = rng.standard_normal(x.shape[3]).astype(dtype)
    return [x, *geometry, bias, int(rng.integers(0, 3)), y], [9]


def _avg_pool(rng, dtype):
    x, geometry, pads, y = _pool_setup(rng, dtype)
    return [x, *geometry, *pads, bool(rng.integers(0, 2)), y], [10]


def _l2_pool(rng, dtype):
    x, geometry, _, y = _pool_setup(rng, dtype)
    return [x, *geometry, y], [7]


def _max_pool_grad(rng, dtype):
    x, geometry, _, y = _pool_setup(rng, dtype)
    argmax = np.zeros(y.shape, np.int64)
    kernels.pool.max_pool(x, *geometry, y, argmax)
    dy = rng.standard_normal(y.shape).astype(dtype)
    return [dy, argmax, np.zeros_like(x)], [2]


def _avg_pool_grad(rng, dtype):
    x, geometry, pads, y = _pool_setup(rng, dtype)
    dy = rng.standard_normal(y.shape).astype(dtype)
    return [dy, *geometry, *pads, bool(rng.integers(0, 2)), np.zeros_like(x)], [10]


def _l2_pool_grad(rng, dtype):
    x, geometry, _, y = _pool_setup(rng, dtype)
    kernels.pool.l2_pool(x, *geometry, y)
    dy = rng.standard_normal(y.shape).astype(dtype)
    return [x, y, dy, *geometry, np.zeros_like(x)], [9]


def _softmax(rng, dtype):
    x, out = _rows_and_out(rng, dtype, strided=bool(rng.integers(0, 2)))
    return [20 * x, out], [1]


def _softmax_cross_entropy(rng, dtype):
    logits, _ = _rows_and_out(rng, dtype, strided=False)
    target = rng.integers(0, logits.shape[1], logits.shape[0])
    return [10 * logits, target], []


def _matmul_into(rng, dtype):
    """Shapes across the micro-kernel's block edges, K from 1 to 1,152, and operands that
    are views: a transposed ``a``, a row-strided ``b``, a column slice of ``out``."""
    m, n = int(rng.integers(1, 40)), int(rng.integers(1, 70))
    k = int(rng.choice([1, 2, 3, 27, 64, int(rng.integers(1, 1153))]))
    a = (rng.standard_normal((m, k)) / np.sqrt(k)).astype(dtype)  # outputs of order 1
    if rng.integers(0, 2):
        a = np.ascontiguousarray(a.T).T
    b = rng.standard_normal((k, n + 2)).astype(dtype)[:, 1 : n + 1]
    out = np.full((m, n + 3), np.nan, dtype)[:, 2 : n + 2]
    return [a, b, out], [2]


def _matmul_epilogue_into(rng, dtype):
    """``_matmul_into``'s operands, with a bias and a store epilogue (none, bias, bias + ReLU);
    narrow column counts (at most one vector) come up often."""
    a, b, out = _matmul_into(rng, dtype)[0]
    bias = rng.standard_normal(b.shape[1]).astype(dtype)
    return [a, b, out, bias, int(rng.integers(0, 3))], [2]


CASES = {
    "conv.im2col": _im2col,
    "conv.col2im": _col2im,
    "conv.depthwise_conv": lambda rng, dt: _depthwise(rng, dt, "forward"),
    "conv.depthwise_conv_grad_input": lambda rng, dt: _depthwise(rng, dt, "input"),
    "conv.depthwise_conv_grad_weight": lambda rng, dt: _depthwise(rng, dt, "weight"),
    "elementwise.bias_activation": _bias_activation,
    "elementwise.bias_activation_block": _bias_activation_block,
    "elementwise.activation_grad": _activation_grad,
    "elementwise.scale_shift": _scale_shift,
    "elementwise.channels_last": _channels_last,
    "gemm.matmul_tiles": _matmul_tiles,
    "gemm.conv_tiles": _conv_tiles,
    "matmul.matmul_into": _matmul_into,
    "matmul.matmul_epilogue_into": _matmul_epilogue_into,
    "pool.max_pool": _max_pool,
    "pool.max_pool_bias_activation": _max_pool_bias_activation,
    "pool.avg_pool": _avg_pool,
    "pool.l2_pool": _l2_pool,
    "pool.max_pool_grad": _max_pool_grad,
    "pool.avg_pool_grad": _avg_pool_grad,
    "pool.l2_pool_grad": _l2_pool_grad,
    "softmax.softmax": _softmax,
    "softmax.softmax_cross_entropy": _softmax_cross_entropy,
    "window_max.max_pool_bias_relu": _max_pool_bias_relu,
}

PAIRS = [pair for pair in kernels.pairs() if pair[0].split(".")[0] in MODULES]


def test_every_kernel_of_these_modules_has_a_case():
    assert sorted(name for name, _, _ in PAIRS) == sorted(CASES)


def _copy(value):
    """A deep copy that keeps a strided array strided (``copy.deepcopy`` compacts it)."""
    if isinstance(value, np.ndarray) and not value.flags.c_contiguous and value.ndim:
        wider = np.zeros((*value.shape[:-1], value.shape[-1] + 3), value.dtype)
        view = wider[..., 1 : 1 + value.shape[-1]]
        view[...] = value
        return view
    return copy.deepcopy(value)


def _as_list(result):
    return list(result) if isinstance(result, tuple) else [result]


def _assert_same(a, b, dtype, what):
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(a, b, rtol=tolerance, atol=tolerance, err_msg=what)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "jit", "numpy_twin"), PAIRS, ids=[p[0] for p in PAIRS])
def test_jit_kernel_matches_numpy_twin(name, jit, numpy_twin, dtype):
    if name.startswith(("gemm.", "matmul.", "window_max.")) and dtype != np.float32:
        pytest.skip("the tiled and reproducible products are float32 kernels")
    rng = np.random.default_rng(sum(map(ord, name)))
    for trial in range(6):
        args, written = CASES[name](rng, dtype)
        jit_args, numpy_args = [_copy(a) for a in args], [_copy(a) for a in args]
        jit_result = jit(*jit_args)
        numpy_result = numpy_twin(*numpy_args)
        what = f"{name} trial {trial} shapes {[getattr(a, 'shape', ()) for a in args]}"
        for a, b in zip(_as_list(jit_result), _as_list(numpy_result), strict=True):
            if a is not None or b is not None:
                _assert_same(a, b, dtype, f"{what} (returned)")
        for index in written:
            assert not np.isnan(numpy_args[index]).any(), what
            _assert_same(jit_args[index], numpy_args[index], dtype, f"{what} (argument {index})")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bias_activation_in_place_matches_numpy_twin(dtype):
    """``out is z`` takes the kernel's separate in-place loop (the harness above copies each
    argument, so it never passes the same array twice)."""
    rng = np.random.default_rng(11)
    for code in range(14):
        args, _ = _bias_activation(rng, dtype)
        z = args[0]
        expected = z.copy()
        ew.NUMPY["bias_activation"](expected, *args[1:5], expected)
        ew.JIT["bias_activation"](z, *args[1:5], z)
        _assert_same(z, expected, dtype, f"in-place bias_activation, code {code}")


def test_both_im2col_line_orders_write_the_same_columns():
    """``conv_tiles`` fills its column tiles with ``_im2col_short`` for tap runs shorter than
    ``SHORT_RUN`` and ``_im2col_lines`` otherwise; the parity cases above have few channels, so
    here both run on the same random geometries, channel groups up to 20 wide, offsets and
    padding included."""
    from runtime.kernels import gemm

    rng = np.random.default_rng(11)
    for trial in range(60):
        x = _input(rng, np.float32, channels=int(rng.integers(1, 21)))
        geometry = _geometry(rng)
        kh, kw, sh, sw, dh, dw, pt, pl = geometry
        ho = max(_out_size(x.shape[1], kh, sh, dh, pt, int(rng.integers(0, 3))), 1)
        wo = max(_out_size(x.shape[2], kw, sw, dw, pl, int(rng.integers(0, 3))), 1)
        c0 = int(rng.integers(0, x.shape[3]))
        cg = int(rng.integers(1, x.shape[3] - c0 + 1))
        total = x.shape[0] * ho
        line0 = int(rng.integers(0, total))
        lines = int(rng.integers(1, total - line0 + 1))
        short, wide = (np.full((lines * wo, kh * kw * cg), np.nan, np.float32) for _ in range(2))
        args = (x, c0, *geometry, ho, wo, line0, lines)
        gemm._im2col_short(*args, short)
        gemm._im2col_lines(*args, wide)
        np.testing.assert_array_equal(short, wide, err_msg=f"trial {trial}, geometry {geometry}")
