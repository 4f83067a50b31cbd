"""Runtime, kernels layer: optimizer update kernels: one fused pass per parameter array.

Each returns new arrays (state in, state out); the numpy twins have the same signatures.
"""

from __future__ import annotations

import numpy as np

from runtime.kernels.jit import njit


def sgd_step_numpy(w, g, v, lr, momentum):
    """v' = momentum * v + g;  w' = w - lr * v'  (PyTorch's convention, dampening 0)."""
    v_new = momentum * v + g
    return (w - lr * v_new).astype(w.dtype), v_new.astype(v.dtype)


@njit
def _sgd_loop(w, g, v, lr, momentum, w_out, v_out):
    for i in range(w.size):
        vi = momentum * v[i] + g[i]
        v_out[i] = vi
        w_out[i] = w[i] - lr * vi


def sgd_step(w, g, v, lr, momentum):
    w_out = np.empty_like(w)
    v_out = np.empty_like(v)
    _sgd_loop(
        w.ravel(),
        g.ravel(),
        v.ravel(),
        w.dtype.type(lr),
        w.dtype.type(momentum),
        w_out.ravel(),
        v_out.ravel(),
    )
    return w_out, v_out


def adam_coefficients(lr, beta1, beta2, eps, count, dtype):
    """Adam's scalars for step ``count``, each computed in float64 from the hyperparameters'
    exact (float64) values and rounded once to ``dtype``.

    ``(b1, 1 - b1, b2, 1 - b2, lr / (1 - b1^t), sqrt(1 - b2^t), eps)``. Rounding ``1 - b2`` once
    matters: ``1 - float32(0.999)`` is ``0.00099998713``, 1.3e-5 away from 0.001, which made
    every step ~6e-6 too large when the bias correction used the exact value.
    """
    t = np.dtype(dtype).type
    beta1, beta2 = float(beta1), float(beta2)
    return (
        t(beta1),
        t(1.0 - beta1),
        t(beta2),
        t(1.0 - beta2),
        t(float(lr) / (1.0 - beta1**count)),
        t(np.sqrt(1.0 - beta2**count)),
        t(eps),
    )


def adam_step_numpy(w, g, m, v, lr, beta1, beta2, eps, count):
    """Adam (Kingma & Ba 2015, Algorithm 1) with bias correction, as torch.optim.Adam:

    m' = b1 m + (1 - b1) g;  v' = b2 v + (1 - b2) g^2;
    w' = w - lr * (m' / (1 - b1^t)) / (sqrt(v' / (1 - b2^t)) + eps),  t = count (>= 1).

    One precision for the hyperparameters: every scalar is computed in float64 from the
    exact values and rounded once to the weights' dtype (:func:`adam_coefficients`); the
    arrays are then updated in their own dtype. torch.optim.Adam does the same.
    """
    b1, c1, b2, c2, step_size, sqrt_c2, eps = adam_coefficients(
        lr, beta1, beta2, eps, count, w.dtype
    )
    m_new = b1 * m + c1 * g
    v_new = b2 * v + c2 * g * g
    # Same operation order as torch.optim.Adam, so float32 results agree to rounding.
    denom = np.sqrt(v_new) / sqrt_c2 + eps
    w_new = w - step_size * (m_new / denom)
    return w_new.astype(w.dtype), m_new.astype(m.dtype), v_new.astype(v.dtype)


@njit
def _adam_loop(w, g, m, v, b1, c1, b2, c2, step_size, sqrt_c2, eps, w_out, m_out, v_out):
    for i in range(w.size):
        mi = b1 * m[i] + c1 * g[i]
        vi = b2 * v[i] + c2 * g[i] * g[i]
        m_out[i] = mi
        v_out[i] = vi
        w_out[i] = w[i] - step_size * (mi / (np.sqrt(vi) / sqrt_c2 + eps))


def adam_step(w, g, m, v, lr, beta1, beta2, eps, count):
    w_out, m_out, v_out = np.empty_like(w), np.empty_like(m), np.empty_like(v)
    b1, c1, b2, c2, step_size, sqrt_c2, eps = adam_coefficients(
        lr, beta1, beta2, eps, count, w.dtype
    )
    _adam_loop(
        w.ravel(),
        g.ravel(),
        m.ravel(),
        v.ravel(),
        b1,
        c1,
        b2,
        c2,
        step_size,
        sqrt_c2,
        eps,
        w_out.ravel(),
        m_out.ravel(),
        v_out.ravel(),
    )
    return w_out, m_out, v_out


JIT = {"sgd_step": sgd_step, "adam_step": adam_step}
NUMPY = {"sgd_step": sgd_step_numpy, "adam_step": adam_step_numpy}
