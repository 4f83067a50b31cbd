"""Pointwise layers built from real layer protobufs (coremltools' builder) against torch:
batchnorm, every activation, softmax over channels and both flatten orders (float64)."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.nn.layers import get_kind
from tests.builders import single_layer_nn
from tests.layer_support import RTOL, nchw, nhwc, run_layer
from tests.optional import require
from updatable.errors import UnsupportedLayerError

# every test here compares with torch: without it the module is skipped
torch = require("torch")
F = require("torch.nn.functional")


def test_batchnorm_with_batch_statistics_is_refused_like_coremltools_does():
    def add(builder, inp, out):
        builder.add_batchnorm(
            "bn",
            2,
            np.ones(2),
            np.zeros(2),
            input_name=inp,
            output_name=out,
            compute_mean_var=True,
            instance_normalization=True,
        )

    layer, _ = single_layer_nn((2, 3, 3), add)
    layer.batchnorm.instanceNormalization = False
    with pytest.raises(UnsupportedLayerError, match=r"layer 'bn' \(batchnorm\): computeMeanVar"):
        get_kind("batchnorm").build(layer, [(3, 3, 2)])


@pytest.mark.parametrize("mode", ["stored", "instance"])
def test_batchnorm_matches_torch(mode):
    c, h, w = 5, 3, 7
    rng = np.random.default_rng(6)
    gamma, beta, mean = rng.standard_normal((3, c))
    variance = rng.uniform(0.5, 2.0, c)

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
            compute_mean_var=mode != "stored",
            instance_normalization=mode == "instance",
            epsilon=1e-3,
        )

    layer, _ = single_layer_nn((c, h, w), add)
    x = rng.standard_normal((4, h, w, c)) * 3 + 1
    y, _ = run_layer("batchnorm", layer, (c, h, w), x)
    g, b, m, v = (
        torch.from_numpy(a.astype(np.float32).astype(np.float64))
        for a in (gamma, beta, mean, variance)
    )
    if mode == "stored":
        ref = F.batch_norm(nchw(x), m, v, g, b, training=False, eps=1e-3)
        tolerance = 1e-6  # scale and shift are folded once in float32
    else:
        ref = F.instance_norm(nchw(x), weight=g, bias=b, eps=1e-3)
        tolerance = RTOL
    np.testing.assert_allclose(y, nhwc(ref), rtol=tolerance, atol=tolerance)


ACTIVATIONS = [
    ("RELU", None, F.relu),
    ("LEAKYRELU", [0.2], lambda t: F.leaky_relu(t, 0.2)),
    ("THRESHOLDEDRELU", 0.4, None),  # the builder takes a bare float for these two
    ("PRELU", "vector", None),
    ("TANH", None, torch.tanh),
    ("SCALED_TANH", [1.5, 0.7], lambda t: 1.5 * torch.tanh(0.7 * t)),
    ("SIGMOID", None, torch.sigmoid),
    ("SIGMOID_HARD", [0.3, 0.45], lambda t: torch.clamp(0.3 * t + 0.45, 0, 1)),
    ("ELU", 0.8, None),
    ("SOFTSIGN", None, F.softsign),
    ("SOFTPLUS", None, F.softplus),
    ("PARAMETRICSOFTPLUS", "vector", None),
    ("LINEAR", [1.7, -0.3], lambda t: 1.7 * t - 0.3),
]


@pytest.mark.parametrize(
    ("name", "params", "reference"), ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS]
)
def test_activation_matches_torch(name, params, reference):
    c, h, w = 4, 3, 5
    rng = np.random.default_rng(8)
    alpha, beta = rng.uniform(0.2, 1.5, c), rng.uniform(0.2, 1.5, c)
    if params == "vector":
        params = alpha if name == "PRELU" else [alpha, beta]
    layer, _ = single_layer_nn(
        (c, h, w), lambda b, i, o: b.add_activation("act", name, i, o, params)
    )
    x = rng.standard_normal((2, h, w, c)) * 4
    y, _ = run_layer("activation", layer, (c, h, w), x)
    t = nchw(x)
    a32 = torch.from_numpy(alpha.astype(np.float32).astype(np.float64))[:, None, None]
    b32 = torch.from_numpy(beta.astype(np.float32).astype(np.float64))[:, None, None]
    if name == "PRELU":
        ref = torch.where(t >= 0, t, a32 * t)
    elif name == "PARAMETRICSOFTPLUS":
        ref = a32 * F.softplus(b32 * t)
    else:
        scalars = [float(np.float32(p)) for p in np.atleast_1d(params or [])]
        ref = _with_scalars(name, scalars, t) if scalars else reference(t)
    np.testing.assert_allclose(y, nhwc(ref), rtol=RTOL, atol=RTOL)


def _with_scalars(name, s, t):
    # the proto stores float32 parameters: compare with exactly those values
    return {
        "LEAKYRELU": lambda: F.leaky_relu(t, s[0]),
        "THRESHOLDEDRELU": lambda: torch.where(t >= s[0], t, 0),
        "SCALED_TANH": lambda: s[0] * torch.tanh(s[1] * t),
        "SIGMOID_HARD": lambda: torch.clamp(s[0] * t + s[1], 0, 1),
        "ELU": lambda: F.elu(t, s[0]),
        "LINEAR": lambda: s[0] * t + s[1],
    }[name]()


@pytest.mark.parametrize("in_chw", [(6, 1, 1), (5, 3, 2)])
def test_softmax_over_channels_matches_torch(in_chw):
    c, h, w = in_chw
    layer, _ = single_layer_nn(in_chw, lambda b, i, o: b.add_softmax("softmax", i, o))
    x = np.random.default_rng(9).standard_normal((3, h, w, c)) * 10
    y, _ = run_layer("softmax", layer, in_chw, x)
    np.testing.assert_allclose(y, nhwc(torch.softmax(nchw(x), dim=1)), rtol=RTOL, atol=1e-15)


@pytest.mark.parametrize("mode", [0, 1])
def test_flatten_orders(mode):
    c, h, w = 3, 4, 5
    layer, _ = single_layer_nn((c, h, w), lambda b, i, o: b.add_flatten("flatten", mode, i, o))
    x = np.random.default_rng(10).standard_normal((2, h, w, c))
    y, _ = run_layer("flatten", layer, (c, h, w), x)
    # CHANNEL_FIRST keeps Core ML's [C, H, W] element order, CHANNEL_LAST orders (h, w, c)
    ref = torch.flatten(nchw(x) if mode == 0 else torch.from_numpy(x), start_dim=1)
    np.testing.assert_array_equal(y.reshape(2, -1), ref.numpy())
    buffer = np.zeros((2, 1, 1, c * h * w + 4))
    run_layer("flatten", layer, (c, h, w), x, out=[buffer[..., 1 : 1 + c * h * w]])
    np.testing.assert_array_equal(buffer[:, 0, 0, 1 : 1 + c * h * w], ref.numpy())
