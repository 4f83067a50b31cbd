"""kNN indexes and kernels: numba vs numpy twins, linear == kd-tree == exact scan, growth."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.kernels import kdtree as tree_kernels
from runtime.kernels import knn as kernels
from runtime.model.engines.knn.kdtree import KdTreeIndex
from runtime.model.engines.knn.linear import LinearIndex
from runtime.model.engines.knn.store import SampleStore


def exact_neighbors(points, queries, k):
    """Reference: float64 distances, sorted by (distance, sample index)."""
    points64, queries64 = points.astype(np.float64), queries.astype(np.float64)
    idx, dist = [], []
    for query in queries64:
        distance = ((points64 - query) ** 2).sum(axis=1)
        order = np.lexsort((np.arange(len(points)), distance))[:k]
        idx.append(order)
        dist.append(distance[order])
    return np.array(idx, dtype=np.int64).reshape(len(queries), -1), np.array(dist).reshape(
        len(queries), -1
    )


def make_store(points, n_labels=3, seed=0):
    store = SampleStore(points.shape[1], int)
    labels = np.random.default_rng(seed).integers(0, n_labels, len(points))
    store.append(points, labels.tolist())
    return store


def both_indexes(store, queries, k, leaf_size=30):
    """Linear, and the kd-tree forced to use its tree whatever the dimension."""
    return (
        LinearIndex().query(store, queries, k),
        KdTreeIndex(leaf_size, max_tree_dimensions=None).query(store, queries, k),
    )


# --------------------------------------------------------------------------- kernel twins


def _twin_inputs(seed=0, n=300, d=6, n_queries=20, k=5):
    rng = np.random.default_rng(seed)
    points = rng.standard_normal((n, d)).astype(np.float32)
    points[10] = points[3]  # a duplicate: tie broken by index
    queries = rng.standard_normal((n_queries, d)).astype(np.float32)
    queries[0] = points[7]  # a zero distance
    return points, queries, k


KERNELS = {
    **{name: kernels for name in kernels.JIT},
    **{name: tree_kernels for name in tree_kernels.JIT},
}


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_every_knn_kernel_matches_its_numpy_twin(name):
    points, queries, k = _twin_inputs()
    error = kernels.expansion_error_coefficient(points.shape[1])
    norms = kernels.NUMPY["sq_norms"](points)
    query_norms = kernels.NUMPY["sq_norms"](queries)
    levels = tree_kernels.tree_levels(250, 7)
    tree = tree_kernels.NUMPY["kdtree_build"](points[:250], levels)
    codes = np.random.default_rng(1).integers(0, 4, len(points))
    idx, dist = kernels.NUMPY["scan"](queries, points, 0, len(points), k)
    cases = {
        "sq_norms": [(points,)],
        "linear_top_k": [(queries @ points.T, query_norms, norms, queries, points, k, error)],
        "scan": [(queries, points, 40, 260, k)],
        "kdtree_build": [(points[:250], levels)],
        "kdtree_query": [(points, *tree, queries, k, 250, len(points))],
        "vote": [(idx, dist, codes, 4, True), (idx, dist, codes, 4, False)],
    }[name]
    module = KERNELS[name]
    for args in cases:
        jit_result = module.JIT[name](*args)
        numpy_result = module.NUMPY[name](*args)
        if not isinstance(jit_result, tuple):
            jit_result, numpy_result = (jit_result,), (numpy_result,)
        for i, (got, want) in enumerate(zip(jit_result, numpy_result, strict=True)):
            if got.dtype.kind in "iu":
                np.testing.assert_array_equal(got, want, err_msg=f"{name}[{i}]")
            else:
                np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=f"{name}[{i}]")


def test_tree_levels_leave_no_leaf_empty_or_oversized():
    for n in (1, 2, 3, 29, 30, 31, 61, 1000, 10_001):
        for leaf_size in (1, 2, 30):
            levels = tree_kernels.tree_levels(n, leaf_size)
            assert n >= 1 << (levels - 1), (n, leaf_size)  # every leaf gets a sample
            largest = -(-n // (1 << (levels - 1)))
            assert largest <= leaf_size or n >> levels == 0, (n, leaf_size)


# --------------------------------------------------------------------------- exactness


@pytest.mark.parametrize("dims", [1, 2, 3, 8, 17, 64, 200])
@pytest.mark.parametrize("k", [1, 3, 7])
def test_linear_and_kd_tree_equal_an_exact_scan(dims, k):
    rng = np.random.default_rng(dims * 10 + k)
    points = rng.standard_normal((500, dims)).astype(np.float32)
    queries = rng.standard_normal((40, dims)).astype(np.float32)
    store = make_store(points)
    want = exact_neighbors(points, queries, k)
    for got in both_indexes(store, queries, k, leaf_size=8):
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_allclose(got[1], want[1], rtol=1e-12)


@pytest.mark.parametrize("leaf_size", [1, 2, 5, 30, 1000])
def test_ties_on_an_integer_grid_are_broken_by_sample_index_in_both_indexes(leaf_size):
    rng = np.random.default_rng(leaf_size)
    # Small integer coordinates: many exactly equal distances and duplicate points.
    points = rng.integers(0, 3, (400, 3)).astype(np.float32)
    queries = rng.integers(0, 3, (60, 3)).astype(np.float32) + 0.5 * (rng.random((60, 3)) < 0.3)
    store = make_store(points)
    for k in (1, 4, 9):
        want = exact_neighbors(points, queries.astype(np.float32), k)
        for got in both_indexes(store, queries.astype(np.float32), k, leaf_size=leaf_size):
            np.testing.assert_array_equal(got[0], want[0], err_msg=f"k={k}")


def test_kd_tree_answers_high_dimensions_with_the_linear_kernel():
    rng = np.random.default_rng(5)
    points = rng.standard_normal((300, 40)).astype(np.float32)
    queries = rng.standard_normal((10, 40)).astype(np.float32)
    store = make_store(points)
    index = KdTreeIndex(30)
    got = index.query(store, queries, 4)
    assert index.tree_ is None and index.rebuilds_ == 0
    forced = KdTreeIndex(30, max_tree_dimensions=None).query(store, queries, 4)
    np.testing.assert_array_equal(got[0], forced[0])
    np.testing.assert_array_equal(got[1], forced[1])


def test_linear_index_is_exact_when_float32_expansion_cancels():
    # Points far from the origin with a tiny spread: ||x||^2 - 2x.y + ||y||^2 in float32 loses
    # every digit of the distance, so the refinement must recover the true order.
    rng = np.random.default_rng(3)
    center = np.full(64, 1000.0)
    points = (center + 0.01 * rng.standard_normal((300, 64))).astype(np.float32)
    queries = (center + 0.01 * rng.standard_normal((25, 64))).astype(np.float32)
    store = make_store(points)
    want = exact_neighbors(points, queries, 5)
    got = LinearIndex().query(store, queries, 5)
    np.testing.assert_array_equal(got[0], want[0])


def test_k_larger_than_the_sample_count_returns_every_sample_sorted():
    points = np.array([[3.0], [1.0], [2.0]], np.float32)
    store = make_store(points)
    for idx, dist in both_indexes(store, np.zeros((1, 1), np.float32), 10):
        np.testing.assert_array_equal(idx, [[1, 2, 0]])
        np.testing.assert_array_equal(dist, [[1.0, 4.0, 9.0]])


def test_empty_store_returns_no_neighbors():
    store = SampleStore(4, str)
    for idx, dist in both_indexes(store, np.zeros((2, 4), np.float32), 3):
        assert idx.shape == dist.shape == (2, 0)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 60),
    dims=st.integers(1, 6),
    k=st.integers(1, 8),
    leaf_size=st.integers(1, 10),
    seed=st.integers(0, 2**16),
    grid=st.booleans(),
)
def test_indexes_agree_with_an_exact_scan_on_arbitrary_data(n, dims, k, leaf_size, seed, grid):
    rng = np.random.default_rng(seed)
    if grid:
        points = rng.integers(-2, 3, (n, dims)).astype(np.float32)
        queries = rng.integers(-2, 3, (5, dims)).astype(np.float32)
    else:
        points = rng.standard_normal((n, dims)).astype(np.float32)
        queries = rng.standard_normal((5, dims)).astype(np.float32)
    store = make_store(points)
    want = exact_neighbors(points, queries, k)
    for got in both_indexes(store, queries, k, leaf_size=leaf_size):
        np.testing.assert_array_equal(got[0], want[0])


# --------------------------------------------------------------------------- growth


def test_single_appends_reallocate_logarithmically_and_keep_the_data():
    rng = np.random.default_rng(0)
    points = rng.standard_normal((1000, 5)).astype(np.float32)
    store = SampleStore(5, str)
    for i, point in enumerate(points):
        store.append(point[None, :], [f"l{i % 7}"])
    assert store.count == 1000
    assert store.reallocations_ <= math.ceil(math.log2(1000 / 16)) + 1
    np.testing.assert_array_equal(store.points, points)
    np.testing.assert_allclose(store.norms, (points.astype(np.float64) ** 2).sum(axis=1))
    assert store.label_values()[:8] == ["l0", "l1", "l2", "l3", "l4", "l5", "l6", "l0"]
    assert store.labels == [f"l{i}" for i in range(7)]


def test_kd_tree_indexes_a_prefix_and_rebuilds_only_when_the_tail_grows():
    rng = np.random.default_rng(1)
    points = rng.standard_normal((1200, 3)).astype(np.float32)
    queries = rng.standard_normal((4, 3)).astype(np.float32)
    store = make_store(points[:200])
    index = KdTreeIndex(leaf_size=16)
    index.query(store, queries, 3)
    assert (index.rebuilds_, index.indexed_) == (1, 200)
    for i in range(200, 1200):  # one example at a time, querying after each
        store.append(points[i : i + 1], [0])
        got = index.query(store, queries, 3)
        if i % 97 == 0:
            np.testing.assert_array_equal(got[0], exact_neighbors(points[: i + 1], queries, 3)[0])
    # Rebuild when the tail passes 1/8 of the indexed prefix: growth by 9/8 per rebuild.
    assert index.rebuilds_ <= 1 + math.ceil(math.log(1200 / 200) / math.log(1.125)) + 1
    assert store.count - index.indexed_ <= max(16, 0.125 * index.indexed_)
    np.testing.assert_array_equal(got[0], exact_neighbors(points, queries, 3)[0])


def test_store_refuses_points_of_the_wrong_width_or_label_count():
    store = SampleStore(3, int)
    with pytest.raises(ValueError, match=r"expected points of shape \(m, 3\), got \(2, 4\)"):
        store.append(np.zeros((2, 4)), [1, 2])
    with pytest.raises(ValueError, match="got 2 points but 1 labels"):
        store.append(np.zeros((2, 3)), [1])
    assert store.count == 0
