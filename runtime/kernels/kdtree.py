"""Runtime, kernels layer: kd-tree kernels: build an implicit tree over the samples, and query it
exactly.

The tree is a complete binary tree stored in arrays (children of node ``i`` are ``2i + 1`` and
``2i + 2``) over a permutation ``perm`` of the samples: node ``i`` holds ``perm[start[i]:end[i]]``
and the bounding box ``lower[i]``, ``upper[i]``. Each internal node splits its samples at the
median of its widest dimension (first widest on ties) with a stable sort, so the build is
deterministic. ``tree_points`` is the indexed samples in tree order, transposed
``(dimensions, samples)``, so a leaf's distances vectorise across its samples.

A query keeps the exact ``(distance, index)`` order of ``runtime.kernels.knn``: leaf distances
accumulate each sample's dimensions in index order (the same float64 value as ``sq_dist``),
and a node is skipped only when its box is *strictly* farther than the current k-th
neighbour; the box distance accumulates in the same order, so it never exceeds the distance
of a sample inside (rounding is monotonic). Samples ``tail_start .. tail_stop`` appended since
the build are scanned exactly.
"""

from __future__ import annotations

import numpy as np

from runtime.kernels.jit import njit
from runtime.kernels.knn import NUMPY as KNN_NUMPY
from runtime.kernels.knn import insert_neighbor, kth_distance, sq_dist


def tree_levels(n_points: int, leaf_size: int) -> int:
    """Levels of the implicit binary tree: split until a leaf holds at most ``leaf_size``."""
    levels = 1
    while -(-n_points // (1 << (levels - 1))) > leaf_size and (n_points >> levels) >= 1:
        levels += 1
    return levels


@njit
def _box_dist(x, lower, upper, node):
    # Same accumulation order as sq_dist, so it never exceeds the distance of a point inside
    # (rounding is monotonic); branch-free because the branches mispredict.
    total = 0.0
    for i in range(x.shape[0]):
        value = np.float64(x[i])
        gap = max(np.float64(lower[node, i]) - value, 0.0)
        gap += max(value - np.float64(upper[node, i]), 0.0)  # at most one term is nonzero
        total += gap * gap
    return total


@njit
def _kdtree_build_jit(points, n_levels):
    n_points, n_dims = points.shape
    n_nodes = (1 << n_levels) - 1
    perm = np.arange(n_points)
    start = np.zeros(n_nodes, np.int64)
    end = np.zeros(n_nodes, np.int64)
    lower = np.empty((n_nodes, n_dims), points.dtype)
    upper = np.empty((n_nodes, n_dims), points.dtype)
    end[0] = n_points
    for node in range(n_nodes):
        s, e = start[node], end[node]
        for i in range(n_dims):
            lo = points[perm[s], i]
            hi = lo
            for r in range(s + 1, e):
                value = points[perm[r], i]
                if value < lo:
                    lo = value
                if value > hi:
                    hi = value
            lower[node, i] = lo
            upper[node, i] = hi
        if 2 * node + 1 >= n_nodes:
            continue
        # Split on the widest dimension (first one on ties) at the median, by a stable sort.
        split = 0
        for i in range(1, n_dims):
            if upper[node, i] - lower[node, i] > upper[node, split] - lower[node, split]:
                split = i
        values = np.empty(e - s, points.dtype)
        for r in range(s, e):
            values[r - s] = points[perm[r], split]
        order = np.argsort(values, kind="mergesort")
        block = perm[s:e].copy()
        for r in range(e - s):
            perm[s + r] = block[order[r]]
        mid = (s + e) // 2
        start[2 * node + 1], end[2 * node + 1] = s, mid
        start[2 * node + 2], end[2 * node + 2] = mid, e
    tree_points = np.empty((n_dims, n_points), points.dtype)
    for r in range(n_points):
        for i in range(n_dims):
            tree_points[i, r] = points[perm[r], i]
    return perm, start, end, lower, upper, tree_points


@njit
def _leaf_dists(x, tree_points, first, size, worst, out):
    """Distances to a leaf's samples, vectorised across samples (each one still sums its
    dimensions in index order, exactly as ``sq_dist``). False when all exceed ``worst``."""
    for p in range(size):
        out[p] = 0.0
    for i in range(x.shape[0]):
        value = np.float64(x[i])
        for p in range(size):
            diff = value - np.float64(tree_points[i, first + p])
            out[p] += diff * diff
        if i & 15 == 15:  # at high dimension, leave a leaf early once every sample is out
            nearest = np.inf
            for p in range(size):
                nearest = min(nearest, out[p])
            if nearest > worst:
                return False
    for p in range(size):
        if out[p] != out[p]:
            out[p] = np.inf
    return True


@njit
def _kdtree_query_jit(
    points, perm, start, end, lower, upper, tree_points, queries, k, tail_start, tail_stop
):
    n_queries = queries.shape[0]
    n_nodes = start.shape[0]
    idx = np.full((n_queries, k), -1, np.int64)
    dist = np.full((n_queries, k), np.inf, np.float64)
    depth = 1
    while (1 << depth) - 1 < n_nodes:
        depth += 1
    stack = np.empty(2 * depth + 2, np.int64)
    stack_bound = np.empty(2 * depth + 2, np.float64)
    largest_leaf = 0
    for node in range(n_nodes // 2, n_nodes):
        largest_leaf = max(largest_leaf, end[node] - start[node])
    leaf = np.empty(largest_leaf, np.float64)
    for b in range(n_queries):
        x = queries[b]
        filled, worst = 0, np.inf
        top = 0
        if n_nodes > 0:
            stack[0] = 0
            stack_bound[0] = _box_dist(x, lower, upper, 0)
            top = 1
        while top > 0:
            top -= 1
            node = stack[top]
            # Prune only when strictly farther: an equal bound may hide a smaller-index tie.
            if stack_bound[top] > worst:
                continue
            left = 2 * node + 1
            if left >= n_nodes:
                first, size = start[node], end[node] - start[node]
                if _leaf_dists(x, tree_points, first, size, worst, leaf):
                    for p in range(size):
                        if leaf[p] <= worst:
                            filled = insert_neighbor(dist, idx, b, filled, leaf[p], perm[first + p])
                            worst = kth_distance(dist, b, filled)
                continue
            right = left + 1
            bound_left = _box_dist(x, lower, upper, left)
            bound_right = _box_dist(x, lower, upper, right)
            near, far, near_bound, far_bound = left, right, bound_left, bound_right
            if bound_right < bound_left:
                near, far, near_bound, far_bound = right, left, bound_right, bound_left
            stack[top], stack_bound[top] = far, far_bound
            stack[top + 1], stack_bound[top + 1] = near, near_bound
            top += 2
        for j in range(tail_start, tail_stop):
            distance = sq_dist(x, points, j, worst)
            if distance <= worst:
                filled = insert_neighbor(dist, idx, b, filled, distance, j)
                worst = kth_distance(dist, b, filled)
    return idx, dist


# --------------------------------------------------------------------------- numpy twins


def _kdtree_build_numpy(points, n_levels):
    n_nodes = (1 << n_levels) - 1
    perm = np.arange(len(points))
    start = np.zeros(n_nodes, np.int64)
    end = np.zeros(n_nodes, np.int64)
    lower = np.empty((n_nodes, points.shape[1]), points.dtype)
    upper = np.empty_like(lower)
    end[0] = len(points)
    for node in range(n_nodes):
        s, e = start[node], end[node]
        block = points[perm[s:e]]
        lower[node], upper[node] = block.min(axis=0), block.max(axis=0)
        if 2 * node + 1 >= n_nodes:
            continue
        split = int(np.argmax(upper[node] - lower[node]))
        perm[s:e] = perm[s:e][np.argsort(block[:, split], kind="stable")]
        mid = (s + e) // 2
        start[2 * node + 1], end[2 * node + 1] = s, mid
        start[2 * node + 2], end[2 * node + 2] = mid, e
    return perm, start, end, lower, upper, np.ascontiguousarray(points[perm].T)


def _kdtree_query_numpy(
    points, perm, start, end, lower, upper, tree_points, queries, k, tail_start, tail_stop
):
    # The reference answer: an exact scan of the indexed prefix and the tail together.
    del perm, start, end, lower, upper, tree_points, tail_start
    return KNN_NUMPY["scan"](queries, points, 0, tail_stop, k)


JIT = {
    "kdtree_build": _kdtree_build_jit,
    "kdtree_query": _kdtree_query_jit,
}

NUMPY = {
    "kdtree_build": _kdtree_build_numpy,
    "kdtree_query": _kdtree_query_numpy,
}
