"""Runtime, model layer: kd-tree kNN index (Core ML's ``singleKdTreeIndex``): numba build and query.

The tree is an implicit complete binary tree over a permutation of the samples: every node
keeps its samples' bounding box, splits on its widest dimension at the median (a stable sort,
so the build is deterministic) and stops when a leaf holds at most ``leafSize`` samples. A
query descends nearer-child first and skips a node only when its box is *strictly* farther
than the current k-th neighbour, so it is exact in any dimension and breaks ties by sample
index exactly as the linear index does; at high dimension it degrades to a scan, never to a
wrong answer.

Above ``TREE_MAX_DIMENSIONS`` a kd-tree hardly prunes (with 10,000 samples it was measured
1.4x (clustered data) to 11x (random data) slower than the linear index at D = 16, and 9x to
80x at D = 1000; scikit-learn's kd-tree behaves alike), so such queries go through the linear
index's kernel instead: the answer is the same by construction
(same distances, same tie order), only faster. ``max_tree_dimensions=None`` forces the tree.

Appends (an app adding one example at a time) do not rebuild the tree: it indexes a prefix of
the store and queries also scan the unindexed tail exactly. The tree is rebuilt, lazily at the
next query, only when the tail outgrows ``max(leafSize, TAIL_FRACTION * indexed)``, so ``n``
appends cause O(log n) rebuilds (``rebuilds_`` counts them) and a tail scan stays short.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from runtime.kernels.kdtree import JIT, tree_levels
from runtime.model.engines.knn.linear import LinearIndex
from runtime.model.engines.knn.store import SampleStore

TAIL_FRACTION = 0.125
# Measured on 10,000 samples, 1,000 queries, k = 3 (scripts/bench_knn.py): the tree beats the
# linear index up to D = 5 on random data and D = 10 on clustered data.
TREE_MAX_DIMENSIONS = 10


class KdTreeIndex:
    """kd-tree over the first ``indexed_`` samples of a store, plus an exact tail scan.

    Args:
        leaf_size: the model's ``SingleKdTreeIndex.leafSize`` (> 0).
        max_tree_dimensions: above this dimension, answer with the linear kernel; ``None``
            always uses the tree.
    """

    kind = "singleKdTreeIndex"

    def __init__(self, leaf_size: int, max_tree_dimensions: int | None = TREE_MAX_DIMENSIONS):
        self.leaf_size = leaf_size
        self.max_tree_dimensions = max_tree_dimensions
        self.indexed_ = 0
        self.rebuilds_ = 0
        self.tree_: tuple[NDArray, ...] | None = None

    def query(
        self, store: SampleStore, queries: NDArray[np.float32], k: int
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """The ``min(k, count)`` nearest samples of each query, as ``(indices, distances)``.

        Same contract as :meth:`runtime.model.engines.knn.linear.LinearIndex.query`.
        """
        limit = self.max_tree_dimensions
        if limit is not None and store.dimensions > limit:
            return LinearIndex().query(store, queries, k)
        k = min(k, store.count)
        if k == 0 or len(queries) == 0:
            return np.empty((len(queries), k), np.int64), np.empty((len(queries), k))
        self._refresh(store)
        assert self.tree_ is not None, "_refresh built the tree"
        return JIT["kdtree_query"](
            store.points, *self.tree_, queries, k, self.indexed_, store.count
        )

    def _refresh(self, store: SampleStore) -> None:
        tail = store.count - self.indexed_
        if self.tree_ is not None and 0 <= tail <= max(
            self.leaf_size, TAIL_FRACTION * self.indexed_
        ):
            return
        points = store.points
        self.tree_ = JIT["kdtree_build"](points, tree_levels(len(points), self.leaf_size))
        self.indexed_ = len(points)
        self.rebuilds_ += 1
