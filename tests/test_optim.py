"""SGD and Adam: numba kernels vs numpy twins, and trajectories pinned against torch.optim."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.kernels import optim as kernels
from runtime.training import optim
from tests.optional import needs, optional_import

torch = optional_import("torch")


def _arrays(seed, shape=(7, 5), dtype=np.float32):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(dtype) for _ in range(4)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sgd_kernel_matches_numpy_twin(dtype):
    w, g, v, _ = _arrays(0, dtype=dtype)
    got = kernels.sgd_step(w, g, v, 0.05, 0.9)
    want = kernels.sgd_step_numpy(w, g, v, 0.05, 0.9)
    for a, b in zip(got, want, strict=True):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=1e-6, err_msg="sgd_step")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_kernel_matches_numpy_twin(dtype):
    w, g, m, v = _arrays(1, dtype=dtype)
    v = np.abs(v)
    got = kernels.adam_step(w, g, m, v, 0.01, 0.9, 0.999, 1e-8, 3)
    want = kernels.adam_step_numpy(w, g, m, v, 0.01, 0.9, 0.999, 1e-8, 3)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, err_msg="adam_step")


def _run_ours(optimizer, params, grads_seq, lrs):
    state = optimizer.init(params)
    for grads, lr in zip(grads_seq, lrs, strict=True):
        params, state = optimizer.update(grads, state, params, lr)
    return params, state


def _run_torch(make, params, grads_seq, lrs):
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    opt = make(list(tensors.values()), lrs[0])
    for grads, lr in zip(grads_seq, lrs, strict=True):
        for group in opt.param_groups:
            group["lr"] = lr  # a progress handler changing the rate between batches
        for key, tensor in tensors.items():
            tensor.grad = torch.tensor(grads[key])
        opt.step()
    return {k: t.detach().numpy() for k, t in tensors.items()}


def _problem(seed, steps=12):
    rng = np.random.default_rng(seed)
    params = {
        "dense/weights": rng.standard_normal((4, 3)).astype(np.float32),
        "dense/bias": rng.standard_normal(4).astype(np.float32),
    }
    grads = [
        {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in params.items()}
        for _ in range(steps)
    ]
    lrs = [0.05 * 0.9**i for i in range(steps)]
    return params, grads, lrs


@pytest.mark.parametrize("momentum", [0.0, 0.9])
@needs("torch")
def test_sgd_trajectory_equals_torch(momentum):
    params, grads, lrs = _problem(2)
    ours, _ = _run_ours(optim.sgd(momentum), params, grads, lrs)
    theirs = _run_torch(
        lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=momentum), params, grads, lrs
    )
    for key in params:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, atol=1e-6, err_msg=key)


@pytest.mark.parametrize("betas, eps", [((0.9, 0.999), 1e-8), ((0.5, 0.9), 1e-3)])
@needs("torch")
def test_adam_trajectory_equals_torch(betas, eps):
    params, grads, lrs = _problem(3)
    ours, state = _run_ours(optim.adam(*betas, eps), params, grads, lrs)
    theirs = _run_torch(
        lambda p, lr: torch.optim.Adam(p, lr=lr, betas=betas, eps=eps), params, grads, lrs
    )
    assert state.count == len(grads)
    for key in params:
        # float32 rounding accumulates over the steps: compare relative to the array's scale
        # one precision for the hyperparameters, as torch's: agreement to float32 rounding
        scale = np.abs(theirs[key]).max()
        np.testing.assert_allclose(
            ours[key], theirs[key], rtol=1e-6, atol=1e-7 * scale, err_msg=key
        )


def test_update_is_pure_and_state_round_trips():
    params, grads, lrs = _problem(4, steps=3)
    before = {k: v.copy() for k, v in params.items()}
    adam = optim.adam()
    state = adam.init(params)
    new_params, new_state = adam.update(grads[0], state, params, lrs[0])
    for key in params:
        np.testing.assert_array_equal(params[key], before[key])  # inputs untouched
        assert not np.array_equal(new_params[key], params[key])
    restored = optim.state_from_arrays(adam.init(params), optim.state_to_arrays(new_state))
    assert restored.count == new_state.count
    for key in params:
        np.testing.assert_array_equal(restored.mu[key], new_state.mu[key])


def _adam_float64(params, grads_seq, lrs, beta1, beta2, eps):
    """Adam in float64 throughout: the reference the float32 kernels must follow."""
    w = {k: v.astype(np.float64) for k, v in params.items()}
    m = {k: np.zeros_like(v) for k, v in w.items()}
    v = {k: np.zeros_like(x) for k, x in w.items()}
    for t, (grads, lr) in enumerate(zip(grads_seq, lrs, strict=True), start=1):
        for key in w:
            g = grads[key].astype(np.float64)
            m[key] = beta1 * m[key] + (1 - beta1) * g
            v[key] = beta2 * v[key] + (1 - beta2) * g * g
            m_hat, v_hat = m[key] / (1 - beta1**t), v[key] / (1 - beta2**t)
            w[key] = w[key] - lr * m_hat / (np.sqrt(v_hat) + eps)
    return w


@pytest.mark.parametrize("kernel", ["adam_step", "adam_step_numpy"])
@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.8, 0.9999)])
def test_adam_in_float32_follows_float64_adam_over_hundreds_of_steps(kernel, betas, monkeypatch):
    """The documented precision: hyperparameters are float64, every derived scalar is
    rounded once to float32. The displacement of 300 float32 steps then matches float64
    Adam to float32 rounding (~1e-6 of its size, bound 3e-6); with beta2 rounded to float32
    in the moments but not in the bias correction every step was 6.4e-6 too large (8e-5 with
    beta2 = 0.9999)."""
    monkeypatch.setattr(kernels, "adam_step", getattr(kernels, kernel))
    rng = np.random.default_rng(5)
    # weights starting at 0, so the weights' own float32 rounding stays far below the step
    params = {"w": np.zeros((16, 8), np.float32)}
    grads = [{"w": (rng.standard_normal((16, 8)) + 0.5).astype(np.float32)} for _ in range(300)]
    lrs = [1e-3] * len(grads)
    ours, _ = _run_ours(optim.adam(*betas, 1e-8), params, grads, lrs)
    reference = _adam_float64(params, grads, lrs, *betas, 1e-8)
    moved = reference["w"] - params["w"]
    error = np.abs((ours["w"] - params["w"]) - moved).max() / np.abs(moved).max()
    assert error < 3e-6, f"{kernel}: displacement differs by {error:.2e} of its size"
