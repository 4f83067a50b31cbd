"""Runtime, model layer: the link functions of the classic models (GLM transforms, tree-ensemble
post-evaluation transforms, SVM probability estimates), in float64.

* ``logistic(x) = 1 / (1 + exp(-x))``, computed as ``exp(-log(1 + exp(-x)))`` so that it
  neither overflows nor loses the relative precision of tiny probabilities;
* ``probit(x) = Phi(x) = erfc(-x / sqrt(2)) / 2``, the standard normal distribution function
  (numpy has no ``erfc``: each element goes through the C library's, ``math.erfc``, which is
  exact to the last bit where a polynomial approximation would not be);
* ``softmax(x)_i = exp(x_i - max x) / sum_j exp(x_j - max x)`` over the last axis.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

_ERFC = np.frompyfunc(math.erfc, 1, 1)


def logistic(x: NDArray) -> NDArray[np.float64]:
    """``1 / (1 + exp(-x))``, elementwise."""
    with np.errstate(invalid="ignore"):  # NaN in, NaN out
        return np.exp(-np.logaddexp(0.0, -np.asarray(x, dtype=np.float64)))


def probit(x: NDArray) -> NDArray[np.float64]:
    """``Phi(x)``, the standard normal CDF, elementwise."""
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * np.asarray(_ERFC(-x / math.sqrt(2.0)), dtype=np.float64).reshape(x.shape)


def softmax(x: NDArray) -> NDArray[np.float64]:
    """Softmax over the last axis."""
    x = np.asarray(x, dtype=np.float64)
    shifted = np.exp(x - x.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)
