"""Runtime, kernels layer: the Gauss error function and GELU, elementwise over flat arrays.

numpy has no ``erf``; numba compiles ``math.erf``. Each value is computed in float64 and
rounded once to the output's dtype. GELU modes (``GeluLayerParams``, NeuralNetwork.proto):

* ``EXACT`` (0): ``0.5 x (1 + erf(x / sqrt 2))``
* ``TANH_APPROXIMATION`` (1): ``0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))``
* ``SIGMOID_APPROXIMATION`` (2): ``x sigmoid(1.702 x)``

The numpy twins loop ``math.erf`` through ``numpy.frompyfunc`` (correct, slow: only for runs
without numba).
"""

from __future__ import annotations

import math

import numpy as np

from runtime.kernels.jit import njit

EXACT, TANH_APPROXIMATION, SIGMOID_APPROXIMATION = 0, 1, 2
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


@njit
def erf(x, out):
    """``out[i] = erf(x[i])`` over 1-D arrays."""
    for i in range(x.shape[0]):
        out[i] = math.erf(float(x[i]))


@njit
def gelu(x, mode, out):
    """``out[i] = gelu(x[i])`` in ``mode`` (module docstring) over 1-D arrays."""
    for i in range(x.shape[0]):
        v = float(x[i])
        if mode == EXACT:
            out[i] = 0.5 * v * (1.0 + math.erf(v * _INV_SQRT2))
        elif mode == TANH_APPROXIMATION:
            out[i] = 0.5 * v * (1.0 + math.tanh(_SQRT_2_OVER_PI * (v + 0.044715 * v * v * v)))
        else:
            out[i] = v / (1.0 + math.exp(-1.702 * v))


# ---- numpy twins (same names and signatures) ----------------------------------------------

_ERF = np.frompyfunc(math.erf, 1, 1)


def _np_erf(x, out):
    out[...] = _ERF(x.astype(np.float64)).astype(np.float64)


def _np_gelu(x, mode, out):
    v = x.astype(np.float64)
    if mode == EXACT:
        out[...] = 0.5 * v * (1.0 + _ERF(v * _INV_SQRT2).astype(np.float64))
    elif mode == TANH_APPROXIMATION:
        out[...] = 0.5 * v * (1.0 + np.tanh(_SQRT_2_OVER_PI * (v + 0.044715 * v * v * v)))
    else:
        out[...] = v / (1.0 + np.exp(-1.702 * v))


JIT = {"erf": erf, "gelu": gelu}
NUMPY = {"erf": _np_erf, "gelu": _np_gelu}
