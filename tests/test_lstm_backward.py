"""uniDirectionalLSTM backward (Core ML backpropagates through it, and its validator lets it be
updatable): float64 central differences of every input, initial state and parameter over the
proto's options, and torch autograd parity with ``nn.LSTM``; export/import round trip.
"""

from __future__ import annotations

import numpy as np
import pytest

from runtime.nn.graph import compile_network
from tests import sequence_reference as ref
from tests.optional import needs, optional_import
from tests.test_layers_lstm import GATES, f32, lstm_spec

torch = optional_import("torch")


def lstm_step(spec):
    step = next(s for s in compile_network(spec).steps if s.kind.oneof == "uniDirectionalLSTM")
    step.params = {k: v.astype(np.float64) for k, v in step.params.items()}
    return step


def loss_of(step, xs, weights):
    """``sum(out * g0) + sum(y_T * g1) + sum(c_T * g2)`` and the forward cache."""
    ys, cache = step.kind.forward(step.attrs, step.params, xs, keep=True)
    return sum(float((y * g).sum()) for y, g in zip(ys, weights, strict=True)), cache


def numerical(f, array, eps=1e-6):
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + eps
        up = f()
        array[index] = saved - eps
        down = f()
        array[index] = saved
        grad[index] = (up - down) / (2 * eps)
    return grad


def random_options(rng):
    names = list(ref.ACTIVATIONS)
    return {
        "f": str(rng.choice(names)),
        "g": str(rng.choice(names)),
        "h": str(rng.choice(names)),
        "coupled": bool(rng.integers(2)),
        "forget_bias": bool(rng.integers(2)),
        "cell_clip": float(rng.choice([0.4, 500.0])),
        "reverse": bool(rng.integers(2)),
        "sequence": bool(rng.integers(2)),
    }


@pytest.mark.parametrize("seed", range(12))
def test_lstm_backward_matches_central_differences(seed):
    rng = np.random.default_rng(500 + seed)
    seq, batch, size, hidden = (int(v) for v in rng.integers(1, 4, size=4))
    w = f32(
        ref.gates(
            rng, GATES, hidden, size, float(rng.choice([0.5, 30.0])), bias=bool(rng.integers(2))
        )
    )
    options = random_options(rng)
    if rng.integers(2):
        options["peep"] = f32({g: rng.uniform(-1, 1, hidden) for g in "ifo"})
    state = (1, batch, hidden, 1, 1)
    spec = lstm_spec(w, size, hidden, [(seq, batch, size, 1, 1), state, state], options)
    step = lstm_step(spec)
    xs = [
        rng.standard_normal((2, seq, batch, size, 1, 1)),
        rng.standard_normal((2, *state)),
        rng.standard_normal((2, *state)),
    ]
    ys, _ = step.kind.forward(step.attrs, step.params, xs)
    weights = [rng.standard_normal(y.shape) for y in ys]
    _, cache = loss_of(step, xs, weights)
    dxs, grads = step.kind.backward(step.attrs, step.params, cache, weights)
    assert set(grads) == set(step.params)
    for index, x in enumerate(xs):
        expected = numerical(lambda: loss_of(step, xs, weights)[0], x)
        np.testing.assert_allclose(
            dxs[index], expected, rtol=1e-5, atol=1e-6, err_msg=f"input {index} {options}"
        )
    for key, value in step.params.items():
        expected = numerical(lambda: loss_of(step, xs, weights)[0], value)
        np.testing.assert_allclose(
            grads[key], expected, rtol=1e-5, atol=1e-6, err_msg=f"{key} {options}"
        )


def test_lstm_backward_without_param_or_input_grads():
    rng = np.random.default_rng(1)
    w = f32(ref.gates(rng, GATES, 3, 2))
    step = lstm_step(lstm_spec(w, 2, 3, [(4, 1, 2, 1, 1)], names=("x",)))
    xs = [rng.standard_normal((2, 4, 1, 2, 1, 1))]
    ys, cache = step.kind.forward(step.attrs, step.params, xs, keep=True)
    dxs, grads = step.kind.backward(
        step.attrs, step.params, cache, [np.ones_like(ys[0]), None, None], param_grads=False
    )
    assert grads == {} and dxs[0].shape == xs[0].shape
    dxs, grads = step.kind.backward(
        step.attrs, step.params, cache, [np.ones_like(ys[0]), None, None], input_grads=False
    )
    assert dxs == [None] and set(grads) == {"W", "R", "b"}


@needs("torch")
@pytest.mark.parametrize("seed", range(4))
def test_lstm_backward_matches_torch_autograd(seed):
    rng = np.random.default_rng(600 + seed)
    seq, batch, size, hidden = 5, 1 + seed % 3, 3, 4
    module = torch.nn.LSTM(size, hidden).double()
    weight_ih, weight_hh = (
        getattr(module, k).detach().numpy() for k in ("weight_ih_l0", "weight_hh_l0")
    )
    bias = (module.bias_ih_l0 + module.bias_hh_l0).detach().numpy()
    w = f32(
        {
            "W": dict(zip(GATES, np.split(weight_ih, 4), strict=True)),
            "R": dict(zip(GATES, np.split(weight_hh, 4), strict=True)),
            "b": dict(zip(GATES, np.split(bias, 4), strict=True)),
        }
    )
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.tensor(np.concatenate([w["W"][g] for g in GATES])))
        module.weight_hh_l0.copy_(torch.tensor(np.concatenate([w["R"][g] for g in GATES])))
        module.bias_ih_l0.copy_(torch.tensor(np.concatenate([w["b"][g] for g in GATES])))
        module.bias_hh_l0.zero_()
    state = (1, batch, hidden, 1, 1)
    step = lstm_step(
        lstm_spec(w, size, hidden, [(seq, batch, size, 1, 1), state, state], {"cell_clip": 500.0})
    )
    x, h0, c0 = (
        rng.standard_normal(s) for s in ((1, seq, batch, size, 1, 1), (1, *state), (1, *state))
    )
    ys, cache = step.kind.forward(step.attrs, step.params, [x, h0, c0], keep=True)
    dys = [rng.standard_normal(y.shape) for y in ys]
    dxs, grads = step.kind.backward(step.attrs, step.params, cache, dys)
    tx, th, tc = (torch.tensor(a[0, ..., 0, 0], requires_grad=True) for a in (x, h0, c0))
    y, (h, c) = module(tx, (th, tc))
    loss = sum(
        (t * torch.tensor(d[0, ..., 0, 0])).sum() for t, d in zip((y, h, c), dys, strict=True)
    )
    loss.backward()
    for ours, theirs in zip(dxs, (tx, th, tc), strict=True):
        np.testing.assert_allclose(ours[0, ..., 0, 0], theirs.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(grads["W"].T, module.weight_ih_l0.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(grads["R"].T, module.weight_hh_l0.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(grads["b"], module.bias_ih_l0.grad.numpy(), atol=1e-12)


def test_lstm_export_and_import_are_inverse_in_core_ml_field_order():
    rng = np.random.default_rng(3)
    w = f32(ref.gates(rng, GATES, 3, 2))
    peep = f32({g: rng.uniform(-1, 1, 3) for g in "ifo"})
    spec = lstm_spec(w, 2, 3, [(4, 1, 2, 1, 1)], {"peep": peep}, ("x",))
    step = next(s for s in compile_network(spec).steps if s.kind.oneof == "uniDirectionalLSTM")
    arrays = step.kind.export(step.attrs, step.params)
    layer = spec.neuralNetwork.layers[0].uniDirectionalLSTM.weightParams
    assert len(arrays) == 15
    for key, value in arrays.items():
        field = key.removeprefix("weightParams.")
        np.testing.assert_array_equal(
            value.ravel(), np.float32(getattr(layer, field).floatValue), err_msg=key
        )
    back = step.kind.import_(step.attrs, arrays)
    for key, value in step.params.items():
        np.testing.assert_array_equal(back[key], value)
