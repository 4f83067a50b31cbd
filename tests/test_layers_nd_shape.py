"""Tensor-shaped layer kinds that move values (reshapes, ...) against numpy on the Core ML
tensor, over randomized shapes with a fixed seed, and their refusals.

Networks are written by coremltools' builder with ``EXACT_ARRAY_MAPPING``
(``tests.nd_networks``) and run in float64; the expected values are numpy expressions on the
``(N, *shape)`` input.
"""

from __future__ import annotations

import numpy as np
import pytest

from runtime.nn.graph import compile_network
from tests.nd_networks import network, run
from updatable.errors import ShapeError, UnsupportedLayerError


def random_shape(rng, low_rank=1, high_rank=5, high=4):
    return tuple(
        int(d) for d in rng.integers(1, high + 1, size=int(rng.integers(low_rank, high_rank + 1)))
    )


def factor(rng, size: int, rank: int) -> list[int]:
    """A random shape of ``rank`` axes holding ``size`` values."""
    dims = [1] * rank
    for prime in (2, 3, 5, 7):
        while size % prime == 0:
            size //= prime
            dims[int(rng.integers(rank))] *= prime
    dims[int(rng.integers(rank))] *= size
    return dims


# ---- reshapeStatic -------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(10))
def test_reshape_static_is_numpy_reshape_of_the_core_ml_tensor(seed):
    rng = np.random.default_rng(seed)
    shape = random_shape(rng)
    target = factor(rng, int(np.prod(shape)), int(rng.integers(1, 6)))
    written = list(target)
    if seed % 3 == 0:
        written[int(rng.integers(len(written)))] = -1  # the size the others leave
    spec = network({"x": shape}, lambda b: b.add_reshape_static("r", "x", "out", written))
    x = rng.standard_normal((3, *shape))
    out = run(spec, {"x": x})["out"]
    assert out.shape == (3, *target)
    np.testing.assert_array_equal(out, x.reshape(3, *target))


def test_reshape_static_after_a_rank_5_layer_flattens_channel_first_like_torch():
    """conv output [1, 2, 3, 3] (held chw) -> [1, 18]: torch.flatten order, C then H then W."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((2, 1, 1, 1))

    def layers(b):
        b.add_convolution(
            "conv",
            1,
            2,
            1,
            1,
            1,
            1,
            "valid",
            1,
            W=w.transpose(2, 3, 1, 0),
            b=None,
            has_bias=False,
            input_name="x",
            output_name="c",
        )
        b.add_reshape_static("flat", "c", "out", [1, 18])

    spec = network({"x": (1, 1, 3, 3)}, layers)
    x = rng.standard_normal((2, 1, 1, 3, 3))
    stored = w.astype(np.float32).astype(np.float64)  # the builder writes float32 weights
    expected = (stored.reshape(1, 2, 1, 1) * x[:, 0]).reshape(2, 1, 18)
    np.testing.assert_allclose(run(spec, {"x": x})["out"], expected, rtol=1e-12)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (
            [5, 3],
            r"cannot reshape a tensor of shape \[2, 6\] \(12 values\) into targetShape "
            r"\[5, 3\] \(15 values\)",
        ),
        ([0, 12], r"targetShape \[0, 12\] must hold positive sizes"),
        ([-1, -1, 3], r"targetShape \[-1, -1, 3\] must hold positive sizes"),
        ([-1, 5], r"cannot reshape a tensor of shape \[2, 6\]"),
        ([], r"targetShape is empty"),
    ],
)
def test_reshape_static_refuses_a_target_that_cannot_hold_the_input(target, message):
    spec = network({"x": (2, 6)}, lambda b: b.add_reshape_static("r", "x", "out", target))
    with pytest.raises(ShapeError, match=r"layer 'r' \(reshapeStatic\): " + message):
        compile_network(spec)


# ---- reshapeLike, reshapeDynamic, rankPreservingReshape, flattenTo2D --------------------------


def test_reshape_like_takes_the_second_inputs_shape_and_ignores_its_values():
    spec = network(
        {"x": (2, 6), "like": (3, 1, 4)}, lambda b: b.add_reshape_like("r", ["x", "like"], "out")
    )
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, 6))
    out = run(spec, {"x": x, "like": rng.standard_normal((2, 3, 1, 4))})["out"]
    np.testing.assert_array_equal(out, x.reshape(2, 3, 1, 4))
    bad = network(
        {"x": (2, 6), "like": (5,)}, lambda b: b.add_reshape_like("r", ["x", "like"], "out")
    )
    with pytest.raises(
        ShapeError,
        match=r"layer 'r' \(reshapeLike\): cannot reshape a tensor of "
        r"shape \[2, 6\] \(12 values\) like one of shape \[5\]",
    ):
        compile_network(bad)


def test_reshape_dynamic_reads_a_shape_known_when_the_network_compiles():
    """The target comes from getShape of another input, as converters compute shapes."""

    def layers(b):
        b.add_get_shape("shape", "like", "target")
        b.add_reshape_dynamic("r", ["x", "target"], "out")

    spec = network({"x": (4, 6), "like": (2, 3, 4)}, layers)
    x = np.random.default_rng(1).standard_normal((3, 4, 6))
    out = run(spec, {"x": x, "like": np.zeros((3, 2, 3, 4))})["out"]
    np.testing.assert_array_equal(out, x.reshape(3, 2, 3, 4))

    def from_data(b):
        b.add_reshape_dynamic("r", ["x", "shape"], "out")

    with pytest.raises(
        UnsupportedLayerError,
        match=r"layer 'r' \(reshapeDynamic\): its output "
        r"shape depends on the values of its second",
    ):
        compile_network(network({"x": (4, 6), "shape": (2,)}, from_data))


@pytest.mark.parametrize(
    ("shape", "target", "expected"),
    [
        ((20, 10), (5, -1), (5, 40)),
        ((20, 10, 5), (0, 2, 25), (20, 2, 25)),
        ((10, 3, 5), (25, 0, -1), (25, 3, 2)),
    ],  # the proto's examples
)
def test_rank_preserving_reshape_keeps_zeros_and_infers_minus_one(shape, target, expected):
    spec = network(
        {"x": shape}, lambda b: b.add_rank_preserving_reshape("r", "x", "out", list(target))
    )
    x = np.random.default_rng(2).standard_normal((2, *shape))
    np.testing.assert_array_equal(run(spec, {"x": x})["out"], x.reshape(2, *expected))


def test_rank_preserving_reshape_refuses_another_rank():
    spec = network(
        {"x": (4, 6)}, lambda b: b.add_rank_preserving_reshape("r", "x", "out", [2, 3, 4])
    )
    with pytest.raises(
        ShapeError,
        match=r"targetShape \[2, 3, 4\] has 3 entries; the input of "
        r"shape \[4, 6\] has rank 2",
    ):
        compile_network(spec)


@pytest.mark.parametrize(
    ("shape", "axis", "expected"),
    [
        ((3,), -1, (1, 3)),
        ((3,), 1, (3, 1)),
        ((4, 3), -1, (4, 3)),
        ((5, 2), 0, (1, 10)),
        ((5, 5, 3), -2, (5, 15)),
        ((2, 3, 2), -1, (6, 2)),
    ],  # the proto's examples
)
def test_flatten_to_2d_follows_the_proto(shape, axis, expected):
    spec = network({"x": shape}, lambda b: b.add_flatten_to_2d("f", "x", "out", axis=axis))
    x = np.random.default_rng(3).standard_normal((2, *shape))
    np.testing.assert_array_equal(run(spec, {"x": x})["out"], x.reshape(2, *expected))
    with pytest.raises(ShapeError, match=r"axis 4 is out of range .* \[-3, 3\]"):
        compile_network(
            network({"x": (1, 2, 3)}, lambda b: b.add_flatten_to_2d("f", "x", "out", axis=4))
        )


# ---- transpose, concatND, splitND, stack, tile -----------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_transpose_is_numpy_transpose_behind_the_example_axis(seed):
    rng = np.random.default_rng(seed)
    shape = random_shape(rng, low_rank=2)
    axes = [int(a) for a in rng.permutation(len(shape))]
    spec = network({"x": shape}, lambda b: b.add_transpose("t", axes, "x", "out"))
    x = rng.standard_normal((2, *shape))
    np.testing.assert_array_equal(
        run(spec, {"x": x})["out"], x.transpose(0, *(a + 1 for a in axes))
    )


def test_transpose_refuses_a_wrong_permutation():
    spec = network({"x": (2, 3, 4)}, lambda b: b.add_transpose("t", [0, 2, 2], "x", "out"))
    with pytest.raises(ShapeError, match=r"axes \[0, 2, 2\] must be a permutation of \[0, 1, 2\]"):
        compile_network(spec)


@pytest.mark.parametrize("seed", range(6))
def test_concat_nd_joins_along_any_axis_and_interleaves(seed):
    rng = np.random.default_rng(seed)
    shape = random_shape(rng)
    axis = int(rng.integers(-len(shape), len(shape)))
    interleave = seed % 2 == 1
    shapes = []
    for _ in range(int(rng.integers(2, 4))):
        s = list(shape)
        if not interleave:
            s[axis] = int(rng.integers(1, 4))
        shapes.append(tuple(s))
    names = [f"x{i}" for i in range(len(shapes))]
    spec = network(
        dict(zip(names, shapes, strict=True)),
        lambda b: b.add_concat_nd("c", names, "out", axis=axis, interleave=interleave),
    )
    xs = [rng.standard_normal((2, *s)) for s in shapes]
    at = (axis + 1 if axis >= 0 else axis) % xs[0].ndim  # the array axis
    if interleave:  # the proto's rule: output[i::k] = x_i along the axis
        full = list(xs[0].shape)
        full[at] *= len(xs)
        expected = np.empty(full)
        for i, x in enumerate(xs):
            expected[(slice(None),) * at + (slice(i, None, len(xs)),)] = x
    else:
        expected = np.concatenate(xs, axis=at)
    np.testing.assert_array_equal(run(spec, dict(zip(names, xs, strict=True)))["out"], expected)


def test_concat_nd_interleave_is_the_protos_example():
    spec = network(
        {"a": (3, 2), "b": (3, 2)},
        lambda b: b.add_concat_nd("c", ["a", "b"], "out", axis=0, interleave=True),
    )
    a = np.array([[[1, 2], [3, 4], [5, 6]]], float)
    b = np.array([[[7, 8], [9, 10], [11, 12]]], float)
    expected = [[[1, 2], [7, 8], [3, 4], [9, 10], [5, 6], [11, 12]]]
    np.testing.assert_array_equal(run(spec, {"a": a, "b": b})["out"], expected)


def test_concat_nd_refuses_mismatched_inputs():
    spec = network(
        {"a": (3, 2), "b": (4, 3)}, lambda b: b.add_concat_nd("c", ["a", "b"], "out", axis=0)
    )
    with pytest.raises(
        ShapeError,
        match=r"layer 'c' \(concatND\): inputs of shapes \[\[3, 2\], "
        r"\[4, 3\]\] cannot be joined",
    ):
        compile_network(spec)


@pytest.mark.parametrize("seed", range(6))
def test_split_nd_by_count_or_sizes(seed):
    rng = np.random.default_rng(seed)
    shape = list(random_shape(rng))
    axis = int(rng.integers(-len(shape), len(shape)))
    pieces = int(rng.integers(2, 4))
    if seed % 2:
        sizes = [int(s) for s in rng.integers(1, 4, size=pieces)]
        shape[axis] = sum(sizes)
        kwargs = {"split_sizes": sizes}
    else:
        shape[axis] = pieces * int(rng.integers(1, 3))
        sizes = [shape[axis] // pieces] * pieces
        kwargs = {"num_splits": pieces}
    outs = [f"y{i}" for i in range(pieces)]
    spec = network(
        {"x": tuple(shape)}, lambda b: b.add_split_nd("s", "x", outs, axis=axis, **kwargs), outs
    )
    x = rng.standard_normal((2, *shape))
    got = run(spec, {"x": x}, outs)
    at = axis + 1 if axis >= 0 else axis
    for name, part in zip(outs, np.split(x, np.cumsum(sizes)[:-1], axis=at), strict=True):
        np.testing.assert_array_equal(got[name], part)


def test_split_nd_refuses_uneven_pieces_and_sizes_that_do_not_add_up():
    outs = ["a", "b"]
    spec = network(
        {"x": (5, 2)}, lambda b: b.add_split_nd("s", "x", outs, axis=0, num_splits=2), outs
    )
    with pytest.raises(ShapeError, match=r"numSplits = 2 does not divide the split axis of size 5"):
        compile_network(spec)
    spec = network(
        {"x": (5, 2)}, lambda b: b.add_split_nd("s", "x", outs, axis=0, split_sizes=[2, 2]), outs
    )
    with pytest.raises(ShapeError, match=r"splitSizes \[2, 2\] must be positive and add up to 5"):
        compile_network(spec)


@pytest.mark.parametrize("axis", [0, 1, 2, 3, -1, -2, -4])
def test_stack_adds_an_axis_like_numpy(axis):
    names = ["a", "b", "c"]
    spec = network(
        {n: (2, 4, 2) for n in names}, lambda b: b.add_stack("s", names, "out", axis=axis)
    )
    rng = np.random.default_rng(axis + 10)
    xs = [rng.standard_normal((2, 2, 4, 2)) for _ in names]
    at = axis + 1 if axis >= 0 else axis
    np.testing.assert_array_equal(
        run(spec, dict(zip(names, xs, strict=True)))["out"], np.stack(xs, axis=at)
    )
    with pytest.raises(
        ShapeError,
        match=r"inputs of shapes \[\[2, 4\], \[2, 5\]\] cannot be "
        r"stacked",
    ):
        compile_network(
            network({"a": (2, 4), "b": (2, 5)}, lambda b: b.add_stack("s", ["a", "b"], "out"))
        )


@pytest.mark.parametrize(
    ("shape", "reps"),
    [((2, 4, 2), (1, 2, 6)), ((2, 4, 2), (6,)), ((3,), (2,)), ((1, 2, 1, 3), (2, 1, 3))],
)
def test_tile_repeats_with_ones_prepended(shape, reps):
    spec = network({"x": shape}, lambda b: b.add_tile("t", "x", "out", reps=list(reps)))
    x = np.random.default_rng(4).standard_normal((2, *shape))
    full = (1,) * (len(shape) - len(reps)) + tuple(reps)
    np.testing.assert_array_equal(run(spec, {"x": x})["out"], np.tile(x, (1, *full)))


def test_tile_with_a_second_input_and_its_refusals():
    def layers(b):
        b.add_load_constant_nd("reps", "r", np.array([2.0, 3.0]), (2,))
        b.add_tile("t", ["x", "r"], "out")

    x = np.random.default_rng(5).standard_normal((2, 2, 2))
    np.testing.assert_array_equal(
        run(network({"x": (2, 2)}, layers), {"x": x})["out"], np.tile(x, (1, 2, 3))
    )
    with pytest.raises(ShapeError, match=r"reps \[1, 1, 1\] must hold 1 to 2 positive entries"):
        compile_network(
            network({"x": (2, 2)}, lambda b: b.add_tile("t", "x", "out", reps=[1, 1, 1]))
        )


# ---- sliceStatic, sliceDynamic, sliceBySize ----------------------------------------------------


def _numpy_slice(x, begin, end, strides, begin_masks, end_masks, squeeze_masks):
    """The reference: a numpy index built from the proto's rules, the example axis kept."""
    index = [slice(None)]
    for b, e, s, bm, em, sq in zip(
        begin, end, strides, begin_masks, end_masks, squeeze_masks, strict=True
    ):
        index.append(b if sq else slice(None if bm else b, None if em else e, s))
    y = x[tuple(index)]
    return y.reshape(len(x), 1) if y.ndim == 1 else y


def _random_slice(rng, shape):
    """Bounds that select at least one element per axis."""
    begin, end, strides, bm, em, sq = [], [], [], [], [], []
    for size in shape:
        stride = int(rng.choice([1, 1, 2, -1, -2]))
        first = int(rng.integers(0, size))
        count = int(rng.integers(1, size + 1))
        if stride > 0:
            last = min(size, first + count * stride)
        else:
            last = max(-1, first - count * -stride)
        b = first - size if rng.random() < 0.3 else first  # negative indices too
        e = last if last >= 0 else -size - 1
        begin.append(b), end.append(e), strides.append(stride)
        bm.append(bool(rng.random() < 0.2)), em.append(bool(rng.random() < 0.2))
        sq.append(bool(rng.random() < 0.15))
    return begin, end, strides, bm, em, sq


@pytest.mark.parametrize("seed", range(12))
def test_slice_static_is_numpy_slicing_with_masks_negative_strides_and_squeezes(seed):
    rng = np.random.default_rng(seed)
    shape = random_shape(rng, high=5)
    begin, end, strides, bm, em, sq = _random_slice(rng, shape)
    spec = network(
        {"x": shape},
        lambda b: b.add_slice_static(
            "s", "x", "out", begin, end, strides, bm, em, squeeze_masks=sq
        ),
    )
    x = rng.standard_normal((2, *shape))
    np.testing.assert_array_equal(
        run(spec, {"x": x})["out"], _numpy_slice(x, begin, end, strides, bm, em, sq)
    )


def test_slice_static_takes_the_last_step_with_stride_minus_one():
    """gru_text's converted form: begin -1, end -2, stride -1 on the time axis."""
    spec = network(
        {"x": (12, 1, 24)},
        lambda b: b.add_slice_static(
            "s",
            "x",
            "out",
            [-1, 0, 0],
            [-2, 0, 0],
            [-1, 1, 1],
            [False, True, True],
            [False, True, True],
        ),
    )
    x = np.random.default_rng(0).standard_normal((2, 12, 1, 24))
    np.testing.assert_array_equal(run(spec, {"x": x})["out"], x[:, -1:])


def test_slice_static_refusals():
    def sliced(begin, end, strides, squeeze=None):
        return network(
            {"x": (4, 5)},
            lambda b: b.add_slice_static(
                "s",
                "x",
                "out",
                begin,
                end,
                strides,
                [False] * len(begin),
                [False] * len(begin),
                squeeze_masks=squeeze,
            ),
        )

    with pytest.raises(ShapeError, match=r"layer 's' \(sliceStatic\): the stride of axis 1 is 0"):
        compile_network(sliced([0, 0], [4, 5], [1, 0]))
    with pytest.raises(ShapeError, match=r"the slice 3:1:1 of axis 0 \(size 4\) is empty"):
        compile_network(sliced([3, 0], [1, 5], [1, 1]))
    with pytest.raises(ShapeError, match=r"needs one entry per axis of the input of shape"):
        compile_network(sliced([0], [4], [1]))
    with pytest.raises(ShapeError, match=r"squeezes axis 1 at index 7, outside its size 5"):
        compile_network(sliced([0, 7], [4, 5], [1, 1], [False, True]))


def test_slice_dynamic_takes_its_bounds_from_constant_inputs():
    def layers(b):
        b.add_load_constant_nd("begin", "b", np.array([1.0, -4.0]), (2,))
        b.add_load_constant_nd("end", "e", np.array([4.0, -1.0]), (2,))
        b.add_load_constant_nd("step", "st", np.array([2.0, 1.0]), (2,))
        b.add_slice_dynamic("s", ["x", "b", "e", "st"], "out")

    x = np.random.default_rng(6).standard_normal((2, 5, 6))
    np.testing.assert_array_equal(
        run(network({"x": (5, 6)}, layers), {"x": x})["out"], x[:, 1:4:2, -4:-1]
    )

    def from_data(b):
        b.add_slice_dynamic("s", ["x", "begin"], "out", end_ids=[5, 6], strides=[1, 1])

    with pytest.raises(
        UnsupportedLayerError,
        match=r"layer 's' \(sliceDynamic\): its output "
        r"shape depends .*input 2 \(beginIds\)",
    ):
        compile_network(network({"x": (5, 6), "begin": (2,)}, from_data))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_slice_by_size_reads_each_examples_own_begin(axis):
    spec = network(
        {"x": (4, 5, 6), "begin": (1,)},
        lambda b: b.add_slice_by_size("s", ["x", "begin"], "out", axis=axis, size=2),
    )
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 4, 5, 6))
    at = axis % 3
    begins = np.array([[0.0], [1.0], [-2.0]])
    got = run(spec, {"x": x, "begin": begins})["out"]
    for n, b in enumerate(begins[:, 0].astype(int)):
        start = b + x.shape[1 + at] if b < 0 else b
        np.testing.assert_array_equal(got[n], np.take(x[n], range(start, start + 2), axis=at))
    with pytest.raises(
        ShapeError,
        match=r"layer 's' \(sliceBySize\): begin 5 leaves fewer than "
        r"size = 2",
    ):
        run(spec, {"x": x, "begin": np.array([[0.0], [5.0], [0.0]])})
    with pytest.raises(ShapeError, match=r"size 9 must be between 1 and"):
        compile_network(
            network(
                {"x": (4, 5, 6), "begin": (1,)},
                lambda b: b.add_slice_by_size("s", ["x", "begin"], "out", axis=0, size=9),
            )
        )


# ---- loadConstantND, getShape ------------------------------------------------------------------


def test_load_constant_nd_repeats_its_value_for_every_example_and_get_shape_reads_shapes():
    value = np.arange(6.0).reshape(1, 2, 3)

    def layers(b):
        b.add_load_constant_nd("c", "const", value, (1, 2, 3))
        b.add_add_broadcastable("sum", ["x", "const"], "out")
        b.add_get_shape("shape", "out", "shape_out")

    spec = network({"x": (4, 1, 1, 3)}, layers, ("out", "const", "shape_out"))
    x = np.random.default_rng(8).standard_normal((2, 4, 1, 1, 3))
    got = run(spec, {"x": x}, ("out", "const", "shape_out"))
    np.testing.assert_array_equal(got["const"], np.broadcast_to(value, (2, 1, 2, 3)))
    np.testing.assert_array_equal(got["out"], x + value)
    np.testing.assert_array_equal(got["shape_out"], [[4, 1, 2, 3]] * 2)
    spec = network({"x": (1,)}, lambda b: b.add_load_constant_nd("c", "out", value, (1, 2, 3)))
    spec.neuralNetwork.layers[0].loadConstantND.shape[:] = [2, 4]
    with pytest.raises(
        ShapeError,
        match=r"layer 'c' \(loadConstantND\): data has 6 values; "
        r"expected 8",
    ):
        compile_network(spec)
