"""Runtime, model layer: linear (brute-force) kNN index: blocked BLAS distances, numba top-k with
exact refinement.

For a block of queries the float32 products ``Q @ Y.T`` go through BLAS (the only O(N n D)
work); a numba kernel turns each row into ``||x||^2 - 2 x.y + ||y||^2``, keeps the candidates
that the float32 error bound cannot rule out, and ranks them by the exact float64 distance
(``runtime.kernels.knn``). The result equals an exact scan: neighbours ordered by
``(squared distance, sample index)``, the same as the kd-tree index.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from runtime.kernels.knn import JIT, expansion_error_coefficient
from runtime.model.engines.knn.store import SampleStore

# Elements of one block of the query x sample product (4M float32 = 16 MiB): large enough for
# efficient GEMMs, small enough to stay out of swap with 10^5..10^6 samples.
_BLOCK_ELEMENTS = 1 << 22
# Up to this many queries, ``samples @ queries.T`` (GEMV-shaped, one pass over the samples) is
# measured 4x faster than ``queries @ samples.T`` with OpenBLAS: the single-example app case.
_FEW_QUERIES = 8


class LinearIndex:
    """Core ML's ``linearIndex``: every query is compared with every sample."""

    kind = "linearIndex"

    def query(
        self, store: SampleStore, queries: NDArray[np.float32], k: int
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """The ``min(k, count)`` nearest samples of each query, as ``(indices, distances)``.

        Both arrays are ``(len(queries), min(k, count))``; rows are sorted by
        ``(distance, index)``; distances are squared Euclidean, accumulated in float64.
        """
        k = min(k, store.count)
        n_queries = len(queries)
        idx = np.empty((n_queries, k), np.int64)
        dist = np.empty((n_queries, k), np.float64)
        if k == 0 or n_queries == 0:
            return idx, dist
        samples, sample_norms = store.points, store.norms
        query_norms = JIT["sq_norms"](queries)
        error = expansion_error_coefficient(store.dimensions)
        if n_queries <= _FEW_QUERIES:
            dots = np.ascontiguousarray(np.matmul(samples, queries.T).T)
            return JIT["linear_top_k"](dots, query_norms, sample_norms, queries, samples, k, error)
        block = max(1, min(n_queries, _BLOCK_ELEMENTS // store.count))
        dots = np.empty((block, store.count), np.float32)
        for first in range(0, n_queries, block):
            last = min(first + block, n_queries)
            out = dots[: last - first]
            np.matmul(queries[first:last], samples.T, out=out)
            idx[first:last], dist[first:last] = JIT["linear_top_k"](
                out, query_norms[first:last], sample_norms, queries[first:last], samples, k, error
            )
        return idx, dist
