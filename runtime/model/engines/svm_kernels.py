"""Runtime, model layer: what the support vector machines share: kernels, support vectors, and
libsvm's pairwise probability coupling.

Core ML's SVMs are libsvm models (coremltools' libsvm and scikit-learn converters copy libsvm's
fields one to one), so they compute as libsvm does:

* kernels (``SVM.proto``): linear ``x . s``; RBF ``exp(-gamma |x - s|^2)``; polynomial
  ``(gamma x . s + c)^degree``; sigmoid ``tanh(gamma x . s + c)``;
* support vectors dense, or sparse with 1-based indexes (libsvm's); a sparse vector longer
  than the input meets zeros there;
* probabilities from pairwise decision values ``d_ij``: ``r_ij = 1 / (1 + exp(A_ij d_ij +
  B_ij))`` (Platt scaling with ``probA`` / ``probB``), clipped to ``[1e-7, 1 - 1e-7]``,
  ``r_ji = 1 - r_ij``; two classes take ``(r_01, r_10)`` as they are, more are coupled by
  libsvm's ``multiclass_probability`` (Wu, Lin and Weng 2004, method 2): the fixed-point
  iteration that minimises ``sum_i sum_{j != i} (r_ji p_i - r_ij p_j)^2`` over the simplex,
  stopping when every ``|(Qp)_t - p'Qp| < 0.005 / K`` or after ``max(100, K)`` rounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from runtime.model.engines.links import logistic
from runtime.model.engines.values import require_size
from updatable.errors import FeatureError, ValidationError

_CLIP = 1e-7  # libsvm's min_prob


@dataclass(frozen=True)
class Kernel:
    """One of the four kernels, with its parameters."""

    kind: str  # the Kernel oneof name: linearKernel, rbfKernel, polyKernel, sigmoidKernel
    gamma: float = 0.0
    c: float = 0.0
    degree: int = 0

    @classmethod
    def of(cls, kernel) -> Kernel:
        kind = kernel.WhichOneof("kernel")
        if kind == "linearKernel":
            return cls(kind)
        params = getattr(kernel, kind)
        return cls(kind, params.gamma, getattr(params, "c", 0.0), getattr(params, "degree", 0))

    def matrix(
        self, rows: NDArray[np.float64], vectors: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """``K(x_n, s_m)`` for every example and support vector: ``(N, S)``. Values beyond the
        float range saturate (to infinity; the RBF kernel to 0) without a warning."""
        with np.errstate(over="ignore", invalid="ignore"):
            return self._matrix(rows, vectors)

    def _matrix(self, rows, vectors):
        if self.kind == "rbfKernel":
            squared = (
                (rows**2).sum(axis=1)[:, None]
                + (vectors**2).sum(axis=1)[None]
                - 2.0 * rows @ vectors.T
            )
            return np.exp(-self.gamma * np.maximum(squared, 0.0))
        dot = rows @ vectors.T
        if self.kind == "linearKernel":
            return dot
        if self.kind == "polyKernel":
            return (self.gamma * dot + self.c) ** self.degree
        return np.tanh(self.gamma * dot + self.c)


def support_vectors(params, width: int | None, kind: str) -> NDArray[np.float64]:
    """The support vectors as a dense ``(S, W)`` matrix; ``W`` is at least the input width."""
    which = params.WhichOneof("supportVectors")
    if which == "denseSupportVectors":
        vectors = [list(v.values) for v in params.denseSupportVectors.vectors]
        lengths = {len(v) for v in vectors}
        if len(lengths) > 1 or (width is not None and lengths and lengths != {width}):
            raise ValidationError(
                f"{kind}: dense support vectors must all hold the {width or 'same number of'} "
                f"values the inputs hold; lengths found: {sorted(lengths)}"
            )
        return np.array(vectors, dtype=np.float64).reshape(len(vectors), -1)
    sparse = params.sparseSupportVectors.vectors
    indexes = [node.index for vector in sparse for node in vector.nodes]
    if any(index < 1 for index in indexes):
        raise ValidationError(
            f"{kind}: sparse support vector indexes are 1-based; found {min(indexes)}"
        )
    require_size(len(sparse) * max([width or 0, *indexes]), "support vectors x their width", kind)
    dense = np.zeros((len(sparse), max([width or 0, *indexes])))
    for row, vector in enumerate(sparse):
        for node in vector.nodes:
            dense[row, node.index - 1] = node.value
    return dense


def fitted(rows: NDArray[np.float64], vectors: NDArray[np.float64], *, sparse: bool, kind: str):
    """``rows`` as wide as the support vectors: sparse vectors may reach past the input (zeros
    are appended there); dense ones hold exactly the input's values."""
    have, need = rows.shape[1], vectors.shape[1]
    if have == need:
        return rows
    if sparse and have < need:
        return np.concatenate([rows, np.zeros((len(rows), need - have))], axis=1)
    raise FeatureError(
        f"{kind}: the inputs hold {have} values per example; its support vectors hold {need}"
    )


def pairwise_probabilities(
    decisions: NDArray, prob_a: NDArray, prob_b: NDArray, classes: int
) -> NDArray:
    """``(N, P)`` decision values of the pairs ``(i, j)``, ``i < j`` in libsvm order ->
    ``(N, K, K)`` with ``r[:, i, j]`` the probability of ``i`` against ``j``."""
    r_ij = np.clip(logistic(-(decisions * prob_a + prob_b)), _CLIP, 1.0 - _CLIP)
    pairs = np.zeros((len(decisions), classes, classes))
    upper_i, upper_j = np.triu_indices(classes, k=1)  # row-major: libsvm's pair order
    pairs[:, upper_i, upper_j] = r_ij
    pairs[:, upper_j, upper_i] = 1.0 - r_ij
    return pairs


def coupled(pairs: NDArray[np.float64]) -> NDArray[np.float64]:
    """libsvm's ``multiclass_probability`` for every example at once: ``(N, K, K)`` pairwise
    probabilities -> ``(N, K)`` class probabilities (an example stops where libsvm's loop would
    stop for it)."""
    count, k = pairs.shape[:2]
    if k == 2:
        return np.stack([pairs[:, 0, 1], pairs[:, 1, 0]], axis=1)
    transposed = pairs.transpose(0, 2, 1)  # transposed[:, t, j] = r_jt
    q = -transposed * pairs
    q[:, np.arange(k), np.arange(k)] = (transposed**2).sum(axis=2)  # r_tt is 0
    p = np.full((count, k), 1.0 / k)
    active = np.ones(count, dtype=bool)
    for _ in range(max(100, k)):
        qp = np.einsum("ntj,nj->nt", q, p)
        pqp = np.einsum("nt,nt->n", p, qp)
        active &= np.abs(qp - pqp[:, None]).max(axis=1) >= 0.005 / k
        if not active.any():
            break
        for t in range(k):
            diff = np.where(active, (pqp - qp[:, t]) / q[:, t, t], 0.0)
            p[:, t] += diff
            grown = 1.0 + diff
            pqp = (pqp + diff * (diff * q[:, t, t] + 2.0 * qp[:, t])) / grown**2
            qp = (qp + diff[:, None] * q[:, t, :]) / grown[:, None]
            p /= grown[:, None]
    return p
