"""Elementwise-family kinds that read or write at indices (gather, scatter, gatherND, scatterND,
gatherAlongAxis, scatterAlongAxis in every ScatterMode, topK, argMax, argMin, argSort, oneHot)
against numpy loops or torch in float64, over randomized shapes, axes and indices (negative
ones included) with a fixed seed, and their refusals.

Every network is written by coremltools' NeuralNetworkBuilder (EXACT_ARRAY_MAPPING) and runs
through the compiler (``tests.nd_networks.run``).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from runtime.nn.graph import compile_network
from tests.nd_networks import network, run
from tests.optional import needs, optional_import
from updatable.errors import FeatureError, ShapeError, UnsupportedLayerError

torch = optional_import("torch")

MODES = ("UPDATE", "ADD", "SUB", "MUL", "DIV", "MAX", "MIN")


def random_shape(rng, low_rank=1, high_rank=4, high=4):
    rank = int(rng.integers(low_rank, high_rank + 1))
    return tuple(int(d) for d in rng.integers(1, high + 1, size=rank))


def indices(rng, size, shape):
    """Float indices in ``[-size, size - 1]``, negative ones included."""
    return rng.integers(-size, size, size=shape).astype(np.float64)


def apply(mode, target, value):
    """``target (op)= value`` for one scatter mode (the proto's sequential loop)."""
    return {
        "UPDATE": lambda: value,
        "ADD": lambda: target + value,
        "SUB": lambda: target - value,
        "MUL": lambda: target * value,
        "DIV": lambda: target / value,
        "MAX": lambda: np.maximum(target, value),
        "MIN": lambda: np.minimum(target, value),
    }[mode]()


# ---- gather / scatter ----------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(8))
def test_gather_is_numpy_take_per_example(seed):
    rng = np.random.default_rng(seed)
    data_shape, index_shape = random_shape(rng), random_shape(rng, 1, 3)
    axis = int(rng.integers(-len(data_shape), len(data_shape)))
    spec = network(
        {"d": data_shape, "i": index_shape},
        lambda b: b.add_gather("g", ["d", "i"], "out", axis=axis),
    )
    data = rng.standard_normal((3, *data_shape))
    chosen = indices(rng, data_shape[axis], (3, *index_shape))
    expected = np.stack([np.take(data[n], chosen[n].astype(int), axis=axis) for n in range(3)])
    np.testing.assert_array_equal(run(spec, {"d": data, "i": chosen})["out"], expected)


def test_gather_truncates_float_indices_and_refuses_out_of_range_ones():
    spec = network({"d": (4, 2), "i": (2,)}, lambda b: b.add_gather("g", ["d", "i"], "out"))
    data = np.arange(8.0).reshape(1, 4, 2)
    got = run(spec, {"d": data, "i": np.array([[2.9, -1.2]])})["out"]
    np.testing.assert_array_equal(got, data[:, [2, 3]])  # 2.9 -> 2, -1.2 -> -1 -> 3
    with pytest.raises(
        FeatureError,
        match=r"layer 'g' \(gather\): index 4\.0 \(example 0\) is "
        r"out of range for an axis of size 4; expected an "
        r"integer in \[-4, 3\]",
    ):
        run(spec, {"d": data, "i": np.array([[0.0, 4.0]])})
    with pytest.raises(FeatureError, match=r"index nan"):
        run(spec, {"d": data, "i": np.array([[0.0, np.nan]])})


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", range(3))
def test_scatter_every_mode_matches_the_proto_loop(mode, seed):
    rng = np.random.default_rng(seed)
    container_shape, index_shape = random_shape(rng), random_shape(rng, 1, 2)
    rank = len(container_shape)
    axis = int(rng.integers(-rank, rank))
    a = axis % rank
    updates_shape = container_shape[:a] + index_shape + container_shape[a + 1 :]
    spec = network(
        {"c": container_shape, "i": index_shape, "u": updates_shape},
        lambda b: b.add_scatter("s", ["c", "i", "u"], "out", axis=axis, mode=mode),
    )
    container = rng.standard_normal((2, *container_shape))
    chosen = indices(rng, container_shape[a], (2, *index_shape))  # repeats are likely
    updates = rng.uniform(0.5, 2, (2, *updates_shape))
    expected = container.copy()
    for n in range(2):
        for j in itertools.product(*map(range, index_shape)):
            target = (n, *(slice(None),) * a, int(chosen[(n, *j)]) % container_shape[a])
            source = (n, *(slice(None),) * a, *j)
            expected[target] = apply(mode, expected[target], updates[source])
    got = run(spec, {"c": container, "i": chosen, "u": updates})["out"]
    np.testing.assert_allclose(got, expected, rtol=1e-13)


def test_scatter_refuses_updates_of_the_wrong_shape_and_an_unknown_mode():
    spec = network(
        {"c": (4, 3), "i": (2,), "u": (3, 2)},
        lambda b: b.add_scatter("s", ["c", "i", "u"], "out", axis=0),
    )
    with pytest.raises(
        ShapeError,
        match=r"layer 's' \(scatter\): updates have shape \[3, 2\]; "
        r"a container of shape \[4, 3\] with indices of shape "
        r"\[2\] along axis 0 needs updates of shape \[2, 3\]",
    ):
        compile_network(spec)
    spec = network(
        {"c": (4, 3), "i": (2,), "u": (2, 3)},
        lambda b: b.add_scatter("s", ["c", "i", "u"], "out", axis=0),
    )
    spec.neuralNetwork.layers[0].scatter.mode = 9
    with pytest.raises(
        UnsupportedLayerError,
        match=r"unknown scatter mode 9; expected one of "
        r"0 \(SCATTER_UPDATE\), 1 \(SCATTER_ADD\)",
    ):
        compile_network(spec)


@needs("torch")
@pytest.mark.parametrize(
    ("mode", "reduce"), [("ADD", "sum"), ("MUL", "prod"), ("MAX", "amax"), ("MIN", "amin")]
)
def test_scatter_along_axis_matches_torch_scatter_reduce(mode, reduce):
    rng = np.random.default_rng(11)
    container = rng.standard_normal((2, 3, 5, 4))
    chosen = rng.integers(0, 5, (2, 3, 7, 4)).astype(np.float64)
    updates = rng.standard_normal((2, 3, 7, 4))
    spec = network(
        {"c": (3, 5, 4), "i": (3, 7, 4), "u": (3, 7, 4)},
        lambda b: b.add_scatter_along_axis("s", ["c", "i", "u"], "out", axis=-2, mode=mode),
    )
    expected = torch.from_numpy(container).scatter_reduce(
        2, torch.from_numpy(chosen).long(), torch.from_numpy(updates), reduce, include_self=True
    )
    got = run(spec, {"c": container, "i": chosen, "u": updates})["out"]
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_scatter_along_axis_every_mode_matches_the_proto_loop(mode):
    rng = np.random.default_rng(MODES.index(mode))
    container = rng.standard_normal((2, 2, 5, 3))
    chosen = indices(rng, 5, (2, 2, 4, 3))
    updates = rng.uniform(0.5, 2, (2, 2, 4, 3))
    spec = network(
        {"c": (2, 5, 3), "i": (2, 4, 3), "u": (2, 4, 3)},
        lambda b: b.add_scatter_along_axis("s", ["c", "i", "u"], "out", axis=1, mode=mode),
    )
    expected = container.copy()
    for n, i, j, k in itertools.product(*map(range, chosen.shape)):
        target = (n, i, int(chosen[n, i, j, k]) % 5, k)
        expected[target] = apply(mode, expected[target], updates[n, i, j, k])
    got = run(spec, {"c": container, "i": chosen, "u": updates})["out"]
    np.testing.assert_allclose(got, expected, rtol=1e-13)


@pytest.mark.parametrize("seed", range(5))
def test_gather_along_axis_is_take_along_axis(seed):
    rng = np.random.default_rng(seed)
    shape = random_shape(rng)
    axis = int(rng.integers(-len(shape), len(shape)))
    index_shape = list(shape)
    index_shape[axis] = int(rng.integers(1, 6))
    spec = network(
        {"d": shape, "i": tuple(index_shape)},
        lambda b: b.add_gather_along_axis("g", ["d", "i"], "out", axis=axis),
    )
    data = rng.standard_normal((2, *shape))
    chosen = indices(rng, shape[axis], (2, *index_shape))
    expected = np.take_along_axis(
        data, chosen.astype(int) % shape[axis], axis=axis + 1 if axis >= 0 else axis
    )
    np.testing.assert_array_equal(run(spec, {"d": data, "i": chosen})["out"], expected)


def test_along_axis_kinds_refuse_indices_of_another_shape():
    spec = network(
        {"d": (3, 4), "i": (2, 5)},
        lambda b: b.add_gather_along_axis("g", ["d", "i"], "out", axis=0),
    )
    with pytest.raises(
        ShapeError,
        match=r"layer 'g' \(gatherAlongAxis\): indices of shape "
        r"\[2, 5\] must have the rank and, except along axis 0, "
        r"the sizes of the tensor of shape \[3, 4\]",
    ):
        compile_network(spec)
    spec = network(
        {"c": (3, 4), "i": (2, 4), "u": (2, 3)},
        lambda b: b.add_scatter_along_axis("s", ["c", "i", "u"], "out", axis=0),
    )
    with pytest.raises(
        ShapeError,
        match=r"updates have shape \[2, 3\]; they must have the shape "
        r"of the indices, \[2, 4\]",
    ):
        compile_network(spec)


# ---- gatherND / scatterND ------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_gather_nd_picks_slices_at_multi_indices(seed):
    rng = np.random.default_rng(seed)
    data_shape = random_shape(rng, 1, 4)
    depth = int(rng.integers(1, len(data_shape) + 1))
    points_shape = random_shape(rng, 1, 2)
    spec = network(
        {"d": data_shape, "i": (*points_shape, depth)},
        lambda b: b.add_gather_nd("g", ["d", "i"], "out"),
    )
    data = rng.standard_normal((2, *data_shape))
    chosen = np.stack([indices(rng, s, (2, *points_shape)) for s in data_shape[:depth]], -1)
    expected = np.stack(
        [
            np.stack(
                [
                    data[n][tuple(int(c) for c in chosen[(n, *p)])]
                    for p in itertools.product(*map(range, points_shape))
                ]
            ).reshape(*points_shape, *data_shape[depth:])
            for n in range(2)
        ]
    )
    got = run(spec, {"d": data, "i": chosen})["out"]
    np.testing.assert_array_equal(got, expected.reshape(got.shape))
    assert got.shape[1:] == (*points_shape, *data_shape[depth:]) or got.shape[1:] == (1,)


def test_gather_nd_shapes_of_the_proto():
    for data, index, out in [
        ((4, 2, 3, 4), (6, 2), (6, 3, 4)),
        ((3, 3, 3, 4, 7), (3, 5), (3,)),
        ((5, 3, 2, 5), (2, 7, 3, 2), (2, 7, 3, 2, 5)),
        ((4, 2), (2,), (1,)),
    ]:
        spec = network({"d": data, "i": index}, lambda b: b.add_gather_nd("g", ["d", "i"], "out"))
        assert compile_network(spec).tensors["out"].shape == out
    spec = network({"d": (4, 2), "i": (3, 3)}, lambda b: b.add_gather_nd("g", ["d", "i"], "out"))
    with pytest.raises(
        ShapeError,
        match=r"the last axis of indices \[3, 3\] holds 3 coordinates "
        r"per point; a tensor of shape \[4, 2\] takes 1 to 2",
    ):
        compile_network(spec)


@pytest.mark.parametrize("mode", MODES)
def test_scatter_nd_every_mode_matches_the_proto_loop(mode):
    rng = np.random.default_rng(20 + MODES.index(mode))
    container = rng.standard_normal((2, 3, 4, 2))
    chosen = np.stack([indices(rng, 3, (2, 5)), indices(rng, 4, (2, 5))], -1)
    updates = rng.uniform(0.5, 2, (2, 5, 2))
    spec = network(
        {"c": (3, 4, 2), "i": (5, 2), "u": (5, 2)},
        lambda b: b.add_scatter_nd("s", ["c", "i", "u"], "out", mode=mode),
    )
    expected = container.copy()
    for n, p in itertools.product(range(2), range(5)):
        target = (n, int(chosen[n, p, 0]) % 3, int(chosen[n, p, 1]) % 4)
        expected[target] = apply(mode, expected[target], updates[n, p])
    got = run(spec, {"c": container, "i": chosen, "u": updates})["out"]
    np.testing.assert_allclose(got, expected, rtol=1e-13)


def test_scatter_nd_shapes_of_the_proto_and_its_refusal():
    for container, index, updates in [
        ((3, 2), (4, 2), (4,)),
        ((7, 6), (4, 7, 2, 5, 1), (4, 7, 2, 5, 6)),
    ]:
        spec = network(
            {"c": container, "i": index, "u": updates},
            lambda b: b.add_scatter_nd("s", ["c", "i", "u"], "out"),
        )
        assert compile_network(spec).tensors["out"].shape == container
    spec = network(
        {"c": (3, 2), "i": (4, 1), "u": (4,)},
        lambda b: b.add_scatter_nd("s", ["c", "i", "u"], "out"),
    )
    with pytest.raises(
        ShapeError,
        match=r"\(scatterND\): updates have shape \[4\]; a container "
        r"of shape \[3, 2\] with indices of shape \[4, 1\] needs "
        r"updates of shape \[4, 2\]",
    ):
        compile_network(spec)


# ---- topK / argMax / argMin / argSort ------------------------------------------------------


@pytest.mark.parametrize("bottom", [False, True])
@pytest.mark.parametrize("seed", range(5))
def test_top_k_values_and_indices(bottom, seed):
    rng = np.random.default_rng(seed)
    shape = random_shape(rng, 1, 4, 6)
    axis = int(rng.integers(-len(shape), len(shape)))
    k = int(rng.integers(1, shape[axis] + 1))
    spec = network(
        {"x": shape},
        lambda b: b.add_topk("t", ["x"], ["v", "i"], k=k, axis=axis, use_bottom_k=bottom),
    )
    x = rng.integers(-3, 4, (2, *shape)).astype(np.float64)  # ties are likely
    array_axis = axis + 1 if axis >= 0 else axis
    order = np.argsort(x if bottom else -x, axis=array_axis, kind="stable")
    chosen = np.take(order, np.arange(k), axis=array_axis)
    got = run(spec, {"x": x}, outputs=("v", "i"))
    np.testing.assert_array_equal(got["i"], chosen)
    np.testing.assert_array_equal(got["v"], np.take_along_axis(x, chosen, axis=array_axis))


@needs("torch")
def test_top_k_matches_torch_topk_without_ties():
    x = np.random.default_rng(3).permutation(60).reshape(1, 3, 4, 5).astype(np.float64)
    spec = network({"x": (3, 4, 5)}, lambda b: b.add_topk("t", ["x"], ["v", "i"], k=3, axis=-2))
    values, where = torch.topk(torch.from_numpy(x), 3, dim=-2, largest=True, sorted=True)
    got = run(spec, {"x": x}, outputs=("v", "i"))
    np.testing.assert_array_equal(got["v"], values.numpy())
    np.testing.assert_array_equal(got["i"], where.numpy())


def test_top_k_ranks_nan_first_and_refuses_a_k_that_does_not_fit():
    spec = network({"x": (4,)}, lambda b: b.add_topk("t", ["x"], ["v", "i"], k=2, axis=0))
    got = run(spec, {"x": np.array([[1.0, np.nan, 3.0, 2.0]])}, outputs=("v", "i"))
    np.testing.assert_array_equal(got["i"], [[1, 2]])
    for k in (0, 5):
        spec = network({"x": (4,)}, lambda b, k=k: b.add_topk("t", ["x"], ["v", "i"], k=k))
        with pytest.raises(
            ShapeError,
            match=rf"layer 't' \(topK\): K = {k} must be a whole "
            r"number in \[1, 4\]",
        ):
            compile_network(spec)


@pytest.mark.parametrize("oneof", ["argMax", "argMin"])
@pytest.mark.parametrize("remove", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_arg_reductions_keep_or_remove_the_axis(oneof, remove, seed):
    rng = np.random.default_rng(seed)
    shape = random_shape(rng)
    axis = int(rng.integers(-len(shape), len(shape)))
    method = "add_argmax" if oneof == "argMax" else "add_argmin"
    spec = network(
        {"x": shape}, lambda b: getattr(b, method)("a", "x", "out", axis=axis, keepdims=not remove)
    )
    x = rng.integers(-2, 3, (3, *shape)).astype(np.float64)  # ties: the first index wins
    array_axis = axis + 1 if axis >= 0 else axis
    found = (np.argmax if oneof == "argMax" else np.argmin)(x, axis=array_axis)
    if not remove or len(shape) == 1:
        found = np.expand_dims(found, array_axis)
    np.testing.assert_array_equal(run(spec, {"x": x})["out"], found)


def test_arg_max_shapes_of_the_proto():
    for keep, out in [(True, (45, 1, 10, 5)), (False, (45, 10, 5))]:
        spec = network(
            {"x": (45, 34, 10, 5)},
            lambda b, keep=keep: b.add_argmax("a", "x", "out", axis=-3, keepdims=keep),
        )
        assert compile_network(spec).tensors["out"].shape == out
    for keep in (True, False):
        spec = network(
            {"x": (5,)}, lambda b, keep=keep: b.add_argmax("a", "x", "out", axis=0, keepdims=keep)
        )
        assert compile_network(spec).tensors["out"].shape == (1,)


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_arg_sort_is_a_stable_sort(descending, seed):
    rng = np.random.default_rng(seed)
    shape = random_shape(rng, 1, 4, 6)
    axis = int(rng.integers(0, len(shape)))
    spec = network(
        {"x": shape}, lambda b: b.add_argsort("s", "x", "out", axis=axis, descending=descending)
    )
    x = rng.integers(-2, 3, (2, *shape)).astype(np.float64)
    expected = np.argsort(-x if descending else x, axis=axis + 1, kind="stable")
    np.testing.assert_array_equal(run(spec, {"x": x})["out"], expected)


@needs("torch")
def test_arg_sort_matches_torch_stable_argsort_and_the_proto_example():
    x = np.array([[3.1, 5.4, 32.9, 3.2, 77.0]])
    for descending, expected in [(False, [0, 3, 1, 2, 4]), (True, [4, 2, 1, 3, 0])]:
        spec = network(
            {"x": (5,)}, lambda b, d=descending: b.add_argsort("s", "x", "out", descending=d)
        )
        np.testing.assert_array_equal(run(spec, {"x": x})["out"], [expected])
    ties = np.random.default_rng(0).integers(0, 3, (2, 4, 9)).astype(np.float64)
    spec = network({"x": (4, 9)}, lambda b: b.add_argsort("s", "x", "out", axis=1, descending=True))
    reference = torch.argsort(torch.from_numpy(ties), dim=2, descending=True, stable=True)
    np.testing.assert_array_equal(run(spec, {"x": ties})["out"], reference.numpy())


def test_arg_sort_refuses_a_negative_axis():
    spec = network({"x": (3, 4)}, lambda b: b.add_argsort("s", "x", "out", axis=-1))
    with pytest.raises(
        ShapeError,
        match=r"layer 's' \(argSort\): axis -1 is negative; argSort "
        r"takes an axis in \[0, 1\]",
    ):
        compile_network(spec)


# ---- oneHot --------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_one_hot_inserts_the_new_axis(seed):
    rng = np.random.default_rng(seed)
    shape = random_shape(rng, 1, 3)
    depth = int(rng.integers(1, 6))
    axis = int(rng.integers(-len(shape) - 1, len(shape) + 1))
    on, off = float(rng.integers(-3, 4)), float(rng.integers(-3, 4))
    spec = network(
        {"x": shape},
        lambda b: b.add_one_hot(
            "h", ["x"], "out", one_hot_vector_size=depth, axis=axis, on_value=on, off_value=off
        ),
    )
    x = rng.integers(-2, depth + 2, (2, *shape)).astype(np.float64)  # some out of range
    hot = (x[..., None] == np.arange(depth)).astype(np.float64)
    position = axis + 1 if axis >= 0 else len(shape) + 2 + axis
    expected = np.moveaxis(np.where(hot == 1, on, off), -1, position)
    np.testing.assert_array_equal(run(spec, {"x": x})["out"], expected)


def test_one_hot_example_of_the_proto_and_its_refusal():
    spec = network(
        {"x": (2,)},
        lambda b: b.add_one_hot(
            "h", ["x"], "out", one_hot_vector_size=4, on_value=5.0, off_value=-1.0
        ),
    )
    got = run(spec, {"x": np.array([[2.0, 0.0], [2.0, -1.0]])})["out"]
    np.testing.assert_array_equal(
        got, [[[-1, -1, 5, -1], [5, -1, -1, -1]], [[-1, -1, 5, -1], [-1, -1, -1, -1]]]
    )
    spec = network({"x": (2,)}, lambda b: b.add_one_hot("h", ["x"], "out"))
    with pytest.raises(
        ShapeError,
        match=r"layer 'h' \(oneHot\): the one-hot vector size must be "
        r"a positive whole number; got 0",
    ):
        compile_network(spec)
