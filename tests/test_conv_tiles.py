"""Float32 convolutions through the tiled kernels (``runtime.kernels.gemm``).

Layers come from coremltools' builder; each float32 forward through the kernels, with tiles of
a few rows so that every case spans many, is compared with the float64 path (numpy's matmul)
and with the float32 path taken where the kernels are not compiled (numpy's matmul).
"""

from __future__ import annotations

import numpy as np
import pytest

from runtime.kernels import gemm as gemm_kernels
from runtime.kernels.jit import is_compiled
from runtime.kernels.matmul import matmul_into
from runtime.nn.layers import _conv_ops, get_kind
from tests.builders import conv_adder, single_layer_nn
from tests.layer_support import relu_layer, run_layer

CASES = [
    # (cin, cout, groups, (kh, kw), (sh, sw), (dh, dw), padding, (h, w))
    (3, 5, 1, (3, 3), (2, 2), (1, 1), ("valid", (0, 0, 0, 0)), (9, 11)),  # conv1-like
    (4, 6, 1, (3, 3), (1, 1), (1, 1), ("same", "BOTTOM_RIGHT_HEAVY"), (7, 6)),  # expand 3x3
    (6, 4, 1, (1, 1), (1, 1), (1, 1), ("valid", (0, 0, 0, 0)), (5, 7)),  # pointwise
    (4, 6, 2, (3, 2), (2, 1), (1, 2), ("valid", (1, 2, 0, 1)), (9, 8)),  # groups, dilation
    (5, 7, 1, (1, 1), (2, 3), (1, 1), ("same", "TOP_LEFT_HEAVY"), (7, 8)),  # strided 1x1
]


@pytest.fixture(params=["small tiles", "whole layer"])
def small_tiles(request, monkeypatch):
    """Tiles of a few rows (or one tile for the whole layer), through ``_conv_ops``' rules."""
    if request.param == "small tiles":
        monkeypatch.setattr(_conv_ops, "COLS_BYTES", 600)
        monkeypatch.setattr(_conv_ops, "TILE_ROWS", 7)
    else:
        monkeypatch.setattr(_conv_ops, "COLS_BYTES", 1 << 30)
        monkeypatch.setattr(_conv_ops, "TILE_ROWS", 1 << 30)
    calls = []
    for name in ("conv_tiles", "matmul_tiles"):
        kernel = getattr(gemm_kernels, name)

        def spy(*args, _kernel=kernel, _name=name):
            # (tile, all of it): output lines (n, oh) for conv_tiles, rows for matmul_tiles
            out = args[-2]
            tile = args[-4] if _name == "conv_tiles" else args[-3]
            calls.append((tile, out.shape[0] * (out.shape[1] if out.ndim == 4 else 1)))
            return _kernel(*args)

        monkeypatch.setattr(gemm_kernels, name, spy)
    return request.param, calls


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
@pytest.mark.parametrize("has_bias", [True, False])
def test_tiled_convolution_matches_the_float64_path(case, has_bias, small_tiles, monkeypatch):
    rule, calls = small_tiles
    if not is_compiled(matmul_into):
        pytest.skip("the tiled kernels run only when numba compiles them")
    cin, cout, groups, kernel, stride, dilation, padding, (h, w) = case
    add = conv_adder(
        cin, cout, groups, kernel, stride, dilation, padding, seed=7, has_bias=has_bias
    )
    layer, _ = single_layer_nn((cin, h, w), add)
    x = np.random.default_rng(2).standard_normal((3, h, w, cin))
    relu = get_kind("activation").build(relu_layer(cout), [(1, 1, cout)]).attrs
    expected, built = run_layer("convolution", layer, (cin, h, w), x, fuse=relu)
    ho, wo = built.attrs.window.out_hw
    buffer = np.full((3, ho, wo, cout + 4), 7.0, np.float32)
    view = buffer[..., 1 : 1 + cout]
    got, _ = run_layer(
        "convolution", layer, (cin, h, w), x, dtype=np.float32, out=[view], fuse=relu
    )
    assert got is view and (buffer[..., :1] == 7).all() and (buffer[..., 1 + cout :] == 7).all()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert len(calls) == groups
    if rule == "whole layer":
        assert all(tile >= whole for tile, whole in calls)
    else:
        assert all(tile < whole for tile, whole in calls)
    monkeypatch.setattr(_conv_ops, "is_compiled", lambda function: False)  # numpy's matmul
    plain, _ = run_layer("convolution", layer, (cin, h, w), x, dtype=np.float32, fuse=relu)
    assert len(calls) == groups  # the float32 fallback calls no kernel
    np.testing.assert_allclose(got, plain, rtol=1e-5, atol=1e-5)
