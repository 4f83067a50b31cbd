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


def adam_step_numpy(w, g, m, v, lr, beta1, beta2, eps, count):
    """Adam (Kingma & Ba 2015, Algorithm 1) with bias correction, as torch.optim.Adam:

    m' = b1 m + (1 - b1) g;  v' = b2 v + (1 - b2) g^2;
    w' = w - lr * (m' / (1 - b1^t)) / (sqrt(v' / (1 - b2^t)) + eps),  t = count (>= 1).
    """
    m_new = beta1 * m + (1 - beta1) * g
    v_new = beta2 * v + (1 - beta2) * g * g
    # Same operation order as torch.optim.Adam, so float32 results agree to rounding.
    step_size = lr / (1 - beta1**count)
    denom = np.sqrt(v_new) / np.sqrt(1 - beta2**count) + eps
    w_new = w - step_size * (m_new / denom)
    return w_new.astype(w.dtype), m_new.astype(m.dtype), v_new.astype(v.dtype)


@njit
def _adam_loop(w, g, m, v, step_size, beta1, beta2, eps, sqrt_c2, w_out, m_out, v_out):
    for i in range(w.size):
        mi = beta1 * m[i] + (1 - beta1) * g[i]
        vi = beta2 * v[i] + (1 - beta2) * g[i] * g[i]
        m_out[i] = mi
        v_out[i] = vi
        w_out[i] = w[i] - step_size * (mi / (np.sqrt(vi) / sqrt_c2 + eps))


def adam_step(w, g, m, v, lr, beta1, beta2, eps, count):
    w_out, m_out, v_out = np.empty_like(w), np.empty_like(m), np.empty_like(v)
    t = w.dtype.type
    _adam_loop(
        w.ravel(),
        g.ravel(),
        m.ravel(),
        v.ravel(),
        t(lr / (1 - beta1**count)),
        t(beta1),
        t(beta2),
        t(eps),
        t(np.sqrt(1 - beta2**count)),
        w_out.ravel(),
        m_out.ravel(),
        v_out.ravel(),
    )
    return w_out, m_out, v_out


JIT = {"sgd_step": sgd_step, "adam_step": adam_step}
NUMPY = {"sgd_step": sgd_step_numpy, "adam_step": adam_step_numpy}
