"""Runtime, kernels layer: k-nearest-neighbour kernels: exact distances, linear top-k selection,
exact scans, vote.

Every kernel returns neighbours ordered by ``(distance, sample index)``: the distance of a
query ``x`` to a sample ``y`` is *defined* as ``sum_i (x_i - y_i)^2`` accumulated in float64 in
index order (``sq_dist``), and equal distances are ordered by sample index. The linear kernels
here and the kd-tree kernels (``runtime.kernels.kdtree``) all rank by that one value, so they
return identical neighbours in identical tie order. NaN distances (a NaN sample) rank as +inf.

``linear_top_k`` ranks from a BLAS float32 product ``x.y`` (the expansion
``||x||^2 - 2 x.y + ||y||^2``) and refines in float64. With ``e_j = c (||x||^2 + ||y_j||^2)``
bounding the float32 error, it keeps a running k-th smallest upper bound ``T`` of
``approx + e`` and the samples whose lower bound ``approx - e`` does not exceed the running
``T``; exact distances of those still under the final ``T`` give the answer. The true k nearest
(and every sample tied with the k-th) pass that test, so the result equals an exact scan.
``c`` comes from :func:`expansion_error_coefficient`.
"""

from __future__ import annotations

import numpy as np

from runtime.kernels.jit import njit

# Inverse-distance weight 1 / (d + EPSILON), d the squared distance
# (docs/update-task-semantics.md §9).
INVERSE_DISTANCE_EPSILON = 1e-6


def expansion_error_coefficient(dimensions: int) -> float:
    """``c`` with ``|approx - d| <= c (||x||^2 + ||y||^2)`` for a float32 dot of length D.

    A float32 dot product of D terms in any summation order errs by at most
    ``gamma_D ||x|| ||y||`` with ``gamma_D = D u / (1 - D u)``, ``u = 2^-24`` (Higham, *Accuracy and
    Stability of Numerical Algorithms*, §3.1), and ``2 ||x|| ||y|| <= ||x||^2 + ||y||^2``. The
    rest (float64 norms, the float64 refinement) adds far less; a generous term covers it.
    """
    unit = 2.0**-24
    terms = dimensions + 2
    return terms * unit / max(1.0 - terms * unit, 0.5) + (terms + 8) * 2.0**-50


# --------------------------------------------------------------------------- numba kernels


@njit
def sq_dist(x, points, j, bound):
    """``||x - points[j]||^2`` in float64; stops early (returning a value > bound) past bound."""
    total = 0.0
    for i in range(x.shape[0]):
        diff = np.float64(x[i]) - np.float64(points[j, i])
        total += diff * diff
        # Partial sums only grow: past the bound the point cannot enter the top k. Checked
        # every 8 terms, which keeps the loop tight at low dimension.
        if i & 7 == 7 and total > bound:
            return total
    if total != total:  # NaN ranks last
        total = np.inf
    return total


@njit
def kth_distance(dist, row, filled):
    """The distance a candidate must not exceed to enter row ``row`` (inf until it is full)."""
    return dist[row, dist.shape[1] - 1] if filled == dist.shape[1] else np.inf


@njit
def insert_neighbor(dist, idx, row, filled, distance, index):
    """Insert ``(distance, index)`` into the sorted top-k ``row``; return the new fill count."""
    k = dist.shape[1]
    if filled == k:
        last_d = dist[row, k - 1]
        if distance > last_d or (distance == last_d and index > idx[row, k - 1]):
            return filled
        position = k - 1
    else:
        position = filled
        filled += 1
    while position > 0:
        prev_d = dist[row, position - 1]
        if prev_d < distance or (prev_d == distance and idx[row, position - 1] < index):
            break
        dist[row, position] = prev_d
        idx[row, position] = idx[row, position - 1]
        position -= 1
    dist[row, position] = distance
    idx[row, position] = index
    return filled


@njit
def _insert_value(values, filled, value):
    """Keep the k smallest of a stream of values, sorted; return the new fill count."""
    k = values.shape[0]
    if filled == k:
        if value >= values[k - 1]:
            return filled
        position = k - 1
    else:
        position = filled
        filled += 1
    while position > 0 and values[position - 1] > value:
        values[position] = values[position - 1]
        position -= 1
    values[position] = value
    return filled


@njit
def _sq_norms_jit(points):
    norms = np.empty(points.shape[0], np.float64)
    for j in range(points.shape[0]):
        total = 0.0
        for i in range(points.shape[1]):
            value = np.float64(points[j, i])
            total += value * value
        norms[j] = total
    return norms


@njit
def _linear_top_k_jit(dots, query_norms, sample_norms, queries, samples, k, error):
    n_queries, n_samples = dots.shape
    idx = np.full((n_queries, k), -1, np.int64)
    dist = np.full((n_queries, k), np.inf, np.float64)
    bounds = np.empty(k, np.float64)
    candidates = np.empty(n_samples, np.int64)
    candidate_lower = np.empty(n_samples, np.float64)
    for b in range(n_queries):
        x = queries[b]
        qn = query_norms[b]
        # One pass: `threshold` is the k-th smallest upper bound so far and only decreases, so
        # a sample whose lower bound exceeds it now can never be needed; keep the others.
        filled, threshold, n_candidates = 0, np.inf, 0
        for j in range(n_samples):
            yn = sample_norms[j]
            approx = qn + yn - 2.0 * np.float64(dots[b, j])
            margin = error * (qn + yn)
            if not approx - margin > threshold:  # NaN bounds are checked exactly too
                candidates[n_candidates] = j
                candidate_lower[n_candidates] = approx - margin
                n_candidates += 1
                upper = approx + margin
                if upper != upper:
                    upper = np.inf
                if filled < k or upper < threshold:
                    filled = _insert_value(bounds, filled, upper)
                    threshold = bounds[k - 1] if filled == k else np.inf
        # Exact distances for the candidates that the final threshold still admits.
        filled, worst = 0, np.inf
        for c in range(n_candidates):
            if candidate_lower[c] > threshold:
                continue
            j = candidates[c]
            distance = sq_dist(x, samples, j, worst)
            if distance <= worst:
                filled = insert_neighbor(dist, idx, b, filled, distance, j)
                worst = kth_distance(dist, b, filled)
    return idx, dist


@njit
def _scan_jit(queries, points, start, stop, k):
    n_queries = queries.shape[0]
    idx = np.full((n_queries, k), -1, np.int64)
    dist = np.full((n_queries, k), np.inf, np.float64)
    for b in range(n_queries):
        x = queries[b]
        filled, worst = 0, np.inf
        for j in range(start, stop):
            distance = sq_dist(x, points, j, worst)
            if distance <= worst:
                filled = insert_neighbor(dist, idx, b, filled, distance, j)
                worst = kth_distance(dist, b, filled)
    return idx, dist


@njit
def _vote_jit(idx, dist, codes, n_labels, inverse):
    n_queries, k = idx.shape
    sums = np.zeros((n_queries, n_labels), np.float64)
    winner = np.full(n_queries, -1, np.int64)
    for b in range(n_queries):
        total = 0.0
        for j in range(k):
            sample = idx[b, j]
            if sample < 0:
                continue
            weight = 1.0 / (dist[b, j] + INVERSE_DISTANCE_EPSILON) if inverse else 1.0
            sums[b, codes[sample]] += weight
            total += weight
        best = -1.0
        for c in range(n_labels):
            if sums[b, c] > best:
                best = sums[b, c]
        # Tie rule: the tied label whose nearest neighbour comes first in neighbour order.
        for j in range(k):
            sample = idx[b, j]
            if sample >= 0 and sums[b, codes[sample]] == best:
                winner[b] = codes[sample]
                break
        if total > 0.0:
            for c in range(n_labels):
                sums[b, c] /= total
    return sums, winner


# --------------------------------------------------------------------------- numpy twins


def _sq_dist_rows(x, rows):
    diff = rows.astype(np.float64) - x.astype(np.float64)
    distance = np.einsum("ij,ij->i", diff, diff)
    distance[np.isnan(distance)] = np.inf
    return distance


def _top_k_rows(x, points, candidates, k):
    # A (distance, index) lexicographic sort of the candidates, padded with (-1, inf).
    distance = _sq_dist_rows(x, points[candidates])
    order = np.lexsort((candidates, distance))[:k]
    idx = np.full(k, -1, np.int64)
    dist = np.full(k, np.inf)
    idx[: order.size] = candidates[order]
    dist[: order.size] = distance[order]
    return idx, dist


def _sq_norms_numpy(points):
    points = points.astype(np.float64)
    return np.einsum("ij,ij->i", points, points)


def _linear_top_k_numpy(dots, query_norms, sample_norms, queries, samples, k, error):
    total = query_norms[:, None] + sample_norms[None, :]
    approx = total - 2.0 * dots.astype(np.float64)
    upper = approx + error * total
    upper[np.isnan(upper)] = np.inf
    threshold = np.partition(upper, k - 1, axis=1)[:, k - 1]
    lower = approx - error * total
    idx = np.empty((len(dots), k), np.int64)
    dist = np.empty((len(dots), k))
    for b in range(len(dots)):
        candidates = np.flatnonzero(~(lower[b] > threshold[b]))
        idx[b], dist[b] = _top_k_rows(queries[b], samples, candidates, k)
    return idx, dist


def _scan_numpy(queries, points, start, stop, k):
    candidates = np.arange(start, stop)
    idx = np.empty((len(queries), k), np.int64)
    dist = np.empty((len(queries), k))
    for b in range(len(queries)):
        idx[b], dist[b] = _top_k_rows(queries[b], points, candidates, k)
    return idx, dist


def _vote_numpy(idx, dist, codes, n_labels, inverse):
    valid = idx >= 0
    weights = 1.0 / (dist + INVERSE_DISTANCE_EPSILON) if inverse else np.ones(dist.shape)
    weights = np.where(valid, weights, 0.0)
    labels = np.where(valid, codes[np.where(valid, idx, 0)], 0)
    sums = np.zeros((len(idx), n_labels))
    rows = np.repeat(np.arange(len(idx)), idx.shape[1])
    np.add.at(sums, (rows, labels.ravel()), weights.ravel())  # in neighbour order
    winner = np.full(len(idx), -1, np.int64)
    if n_labels:
        best = sums.max(axis=1)
        tied = valid & (np.take_along_axis(sums, labels, axis=1) == best[:, None])
        first = np.argmax(tied, axis=1)
        found = tied.any(axis=1)
        winner[found] = labels[found, first[found]]
    totals = sums.sum(axis=1, keepdims=True)
    return np.divide(sums, totals, out=sums, where=totals > 0), winner


JIT = {
    "sq_norms": _sq_norms_jit,
    "linear_top_k": _linear_top_k_jit,
    "scan": _scan_jit,
    "vote": _vote_jit,
}

NUMPY = {
    "sq_norms": _sq_norms_numpy,
    "linear_top_k": _linear_top_k_numpy,
    "scan": _scan_numpy,
    "vote": _vote_numpy,
}
