"""Elementwise-family kinds that make tensors of a given shape (fill*, broadcastTo*, range*), move
values (reverse, slidingWindows) or draw them (random*, categoricalDistribution): against numpy
or torch in float64 over randomized shapes with a fixed seed, the documented seed semantics of
the random kinds, and the refusals (Core ML's validator rules, shapes that depend on a model
input's values).

Rank-1 constants (a shape, a bound) come from ``rangeStatic`` / ``fillStatic`` layers, which the
compiler evaluates at load like any layer without inputs.
"""

from __future__ import annotations

import numpy as np
import pytest

from runtime.nn.graph import compile_network
from tests.nd_networks import network, run
from tests.optional import needs, optional_import
from updatable.errors import ShapeError

torch = optional_import("torch")


def random_shape(rng, low_rank=1, high_rank=4, high=4):
    rank = int(rng.integers(low_rank, high_rank + 1))
    return tuple(int(d) for d in rng.integers(1, high + 1, size=rank))


# ---- fillLike / fillStatic / fillDynamic ---------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_fill_like_has_the_input_shape_and_ignores_its_values(seed):
    rng = np.random.default_rng(seed)
    shape = random_shape(rng)
    spec = network({"x": shape}, lambda b: b.add_fill_like("f", "x", "out", value=2.5))
    got = run(spec, {"x": rng.standard_normal((3, *shape))})["out"]
    np.testing.assert_array_equal(got, np.full((3, *shape), 2.5))


def test_fill_static_makes_one_constant_per_example():
    spec = network(
        {"x": (2,)}, lambda b: b.add_fill_static("f", "out", output_shape=(3, 1, 2), value=-4.0)
    )
    got = run(spec, {"x": np.zeros((4, 2))})["out"]
    np.testing.assert_array_equal(got[0], np.full((3, 1, 2), -4.0))


def test_fill_dynamic_reads_its_shape_from_a_constant():
    def add(b):
        b.add_range_static("r", "shape", end=4, start=2, step=1)  # [2, 3]
        b.add_fill_dynamic("f", "shape", "out", value=7.0)

    spec = network({"x": (1,)}, add)
    assert compile_network(spec).tensors["out"].shape == (2, 3)
    np.testing.assert_array_equal(
        run(spec, {"x": np.zeros((2, 1))})["out"][0], np.full((2, 3), 7.0)
    )


def test_fill_refusals():
    spec = network({"x": (1,)}, lambda b: b.add_fill_static("f", "out", output_shape=(2, 0)))
    with pytest.raises(
        ShapeError,
        match=r"layer 'f' \(fillStatic\): targetShape \[2, 0\] must "
        r"be a non-empty list of positive sizes",
    ):
        compile_network(spec)
    spec = network(
        {"x": (1,)},
        lambda b: (
            b.add_range_static("r", "shape", end=1.5, start=-0.5, step=1),  # [-0.5, 0.5]
            b.add_fill_dynamic("f", "shape", "out"),
        ),
    )
    with pytest.raises(
        ShapeError,
        match=r"\(fillDynamic\): input \(the output shape\) must hold "
        r"whole numbers; got \[-0\.5, 0\.5\]",
    ):
        compile_network(spec)


# ---- broadcastTo* --------------------------------------------------------------------------


def broadcastable_to(rng, target):
    """A shape that broadcasts to ``target`` one way: a suffix with some sizes set to 1."""
    start = int(rng.integers(0, len(target)))
    return tuple(d if rng.random() < 0.5 else 1 for d in target[start:])


@pytest.mark.parametrize("seed", range(5))
def test_broadcast_to_like_and_static_stretch_like_numpy(seed):
    rng = np.random.default_rng(seed)
    target = random_shape(rng)
    shape = broadcastable_to(rng, target)
    x = rng.standard_normal((2, *shape))
    expected = np.broadcast_to(
        x.reshape(2, *(1,) * (len(target) - len(shape)), *shape), (2, *target)
    )
    like = network(
        {"x": shape, "t": target}, lambda b: b.add_broadcast_to_like("l", ["x", "t"], "out")
    )
    static = network(
        {"x": shape}, lambda b: b.add_broadcast_to_static("s", "x", "out", output_shape=target)
    )
    np.testing.assert_array_equal(run(like, {"x": x, "t": np.zeros((2, *target))})["out"], expected)
    np.testing.assert_array_equal(run(static, {"x": x})["out"], expected)


def test_broadcast_to_dynamic_reads_the_shape_from_a_constant_and_refuses_two_way_stretching():
    def add(b):
        b.add_range_static("r", "shape", end=5, start=3, step=1)  # [3, 4]
        b.add_broadcast_to_dynamic("d", ["x", "shape"], "out")

    x = np.random.default_rng(0).standard_normal((2, 1, 4))
    np.testing.assert_array_equal(
        run(network({"x": (1, 4)}, add), {"x": x})["out"], np.broadcast_to(x, (2, 3, 4))
    )
    spec = network(
        {"x": (2, 4)}, lambda b: b.add_broadcast_to_static("s", "x", "out", output_shape=(3, 4))
    )
    with pytest.raises(
        ShapeError,
        match=r"layer 's' \(broadcastToStatic\): a tensor of shape "
        r"\[2, 4\] does not broadcast to \[3, 4\]",
    ):
        compile_network(spec)
    spec = network(
        {"x": (3, 1), "t": (4,)}, lambda b: b.add_broadcast_to_like("s", ["x", "t"], "out")
    )
    with pytest.raises(
        ShapeError,
        match=r"a tensor of shape \[3, 1\] does not broadcast to "
        r"\[4\]",
    ):
        compile_network(spec)


# ---- rangeStatic / rangeDynamic ------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "step"), [(0, 5, 1), (2.5, -1, -0.5), (-3, 4, 2.5), (1, 1.5, 0.1), (0, 1, 3)]
)
def test_range_static_is_numpy_arange(start, end, step):
    spec = network(
        {"x": (1,)}, lambda b: b.add_range_static("r", "out", end=end, start=start, step=step)
    )
    f32 = [float(np.float32(v)) for v in (start, end, step)]  # the proto stores float32
    expected = np.arange(*f32, dtype=np.float64)
    got = run(spec, {"x": np.zeros((2, 1))})["out"]
    assert got.shape[1:] == (len(expected),)
    np.testing.assert_allclose(got[0], expected, rtol=1e-6)


def test_range_dynamic_takes_end_start_and_step_from_its_inputs():
    def add(b, count):
        b.add_fill_static("e", "end", output_shape=(1,), value=7.0)
        b.add_fill_static("s", "start", output_shape=(1,), value=1.0)
        b.add_fill_static("p", "step", output_shape=(1,), value=2.0)
        b.add_range_dynamic("r", ["end", "start", "step"][:count], "out", start=3, step=1)

    for count, expected in [(1, [3, 4, 5, 6]), (2, [1, 2, 3, 4, 5, 6]), (3, [1, 3, 5])]:
        spec = network({"x": (1,)}, lambda b, c=count: add(b, c))
        np.testing.assert_array_equal(run(spec, {"x": np.zeros((2, 1))})["out"][0], expected)


def test_range_refusals():
    for end, step, message in [
        (5, 0, r"must be finite with a step other than 0"),
        (0, 1, r"the range from 3 to 0 by 1 is empty"),
        (
            4,
            1e-10,
            r"asks for a tensor of \d+ values; the runtime holds "
            r"at most 2147483647 per tensor",
        ),
    ]:
        spec = network(
            {"x": (1,)},
            lambda b, e=end, s=step: b.add_range_static("r", "out", end=e, start=3, step=s),
        )
        with pytest.raises(ShapeError, match=r"layer 'r' \(rangeStatic\): .*" + message):
            compile_network(spec)
    spec = network(
        {"x": (1,)},
        lambda b: (
            b.add_range_static("a", "two", end=2, start=0, step=1),
            b.add_range_dynamic("r", ["two"], "out"),
        ),
    )
    with pytest.raises(
        ShapeError,
        match=r"first input \(end\) must hold one value; got a "
        r"tensor of shape \[2\]",
    ):
        compile_network(spec)


# ---- reverse / slidingWindows --------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_reverse_flips_the_flagged_axes(seed):
    rng = np.random.default_rng(seed)
    shape = random_shape(rng)
    flags = [bool(f) for f in rng.integers(0, 2, len(shape))]
    spec = network({"x": shape}, lambda b: b.add_reverse("r", "x", "out", reverse_dim=flags))
    x = rng.standard_normal((2, *shape))
    axes = tuple(a + 1 for a, f in enumerate(flags) if f)
    np.testing.assert_array_equal(run(spec, {"x": x})["out"], np.flip(x, axes))


def test_reverse_refuses_flags_of_another_length():
    spec = network({"x": (2, 3)}, lambda b: b.add_reverse("r", "x", "out", reverse_dim=[True]))
    with pytest.raises(
        ShapeError,
        match=r"layer 'r' \(reverse\): reverseDim has 1 flags; the "
        r"input of shape \[2, 3\] needs one per axis \(2\)",
    ):
        compile_network(spec)


def windows_reference(x, axis, size, step):
    length = x.shape[axis]
    count = (length - size) // step + 1
    picked = [np.take(x, range(m * step, m * step + size), axis=axis) for m in range(count)]
    return np.stack(picked, axis=axis)


@pytest.mark.parametrize("seed", range(6))
def test_sliding_windows_cut_every_window(seed):
    rng = np.random.default_rng(seed)
    shape = random_shape(rng, 1, 4, 7)
    axis = int(rng.integers(-len(shape), len(shape)))
    length = shape[axis]
    size, step = int(rng.integers(1, length + 1)), int(rng.integers(1, 4))
    spec = network(
        {"x": shape},
        lambda b: b.add_sliding_windows("w", "x", "out", axis=axis, window_size=size, step=step),
    )
    x = rng.standard_normal((2, *shape))
    expected = windows_reference(x, axis + 1 if axis >= 0 else axis + len(shape) + 1, size, step)
    np.testing.assert_array_equal(run(spec, {"x": x})["out"], expected)


@needs("torch")
def test_sliding_windows_match_torch_unfold():
    x = np.random.default_rng(1).standard_normal((2, 3, 11, 4))
    spec = network(
        {"x": (3, 11, 4)},
        lambda b: b.add_sliding_windows("w", "x", "out", axis=1, window_size=4, step=3),
    )
    unfolded = torch.from_numpy(x).unfold(2, 4, 3)  # (2, 3, M, 4, W): the window axis last
    np.testing.assert_array_equal(
        run(spec, {"x": x})["out"], unfolded.permute(0, 1, 2, 4, 3).numpy()
    )


def test_sliding_windows_refuse_a_window_longer_than_the_axis():
    spec = network(
        {"x": (3, 4)}, lambda b: b.add_sliding_windows("w", "x", "out", axis=-1, window_size=5)
    )
    with pytest.raises(
        ShapeError,
        match=r"layer 'w' \(slidingWindows\): windowSize 5 and step 1 "
        r"do not fit axis 1 of length 4",
    ):
        compile_network(spec)


# ---- random kinds --------------------------------------------------------------------------

DISTRIBUTIONS = {
    "Normal": ({"mean": 1.5, "stddev": 0.5}, lambda g, s: g.normal(1.5, 0.5, s)),
    "Uniform": ({"minval": -2.0, "maxval": 3.0}, lambda g, s: g.uniform(-2.0, 3.0, s)),
    "Bernoulli": ({"prob": 0.3}, lambda g, s: (g.random(s) < np.float32(0.3)).astype(float)),
}


def random_network(distribution, form, seed, shape=(3, 4)):
    kwargs, _ = DISTRIBUTIONS[distribution]
    method = f"add_random_{distribution.lower()}_{form.lower()}"

    def add(b):
        if form == "Static":
            getattr(b, method)("r", "draws", output_shape=shape, seed=seed, **kwargs)
            b.add_where_broadcastable("w", ["draws", "draws", "x"], "out")  # per example
        elif form == "Like":
            getattr(b, method)("r", "x", "out", seed=seed, **kwargs)
        else:  # the shape [a, a + 1] as a range
            assert shape[1] == shape[0] + 1, shape
            b.add_range_static("s", "shape", end=shape[1] + 1, start=shape[0], step=1)
            getattr(b, method)("r", ["shape"], "draws", seed=seed, **kwargs)
            b.add_where_broadcastable("w", ["draws", "draws", "x"], "out")

    return network({"x": shape}, add)


@pytest.mark.parametrize("distribution", sorted(DISTRIBUTIONS))
@pytest.mark.parametrize("form", ["Like", "Static", "Dynamic"])
def test_random_kinds_with_a_seed_draw_numpy_generator_values(distribution, form):
    spec = random_network(distribution, form, seed=42)
    _, reference = DISTRIBUTIONS[distribution]
    expected = reference(np.random.default_rng(42), (3, 4))
    got = run(spec, {"x": np.zeros((5, 3, 4))})["out"]
    for example in got:  # a seed: every example (and every prediction) gets the same draw
        np.testing.assert_allclose(example, expected, rtol=1e-6)  # float32 draws
    np.testing.assert_array_equal(run(spec, {"x": np.zeros((1, 3, 4))})["out"][0], got[0])


@pytest.mark.parametrize("distribution", sorted(DISTRIBUTIONS))
def test_random_kinds_without_a_seed_draw_fresh_values_per_example_and_run(distribution):
    spec = random_network(distribution, "Like", seed=-1, shape=(40, 50))
    first = run(spec, {"x": np.zeros((2, 40, 50))})["out"]
    second = run(spec, {"x": np.zeros((2, 40, 50))})["out"]
    assert not np.array_equal(first[0], first[1])
    assert not np.array_equal(first, second)
    values = first.reshape(-1)
    if distribution == "Normal":
        assert abs(values.mean() - 1.5) < 0.05 and abs(values.std() - 0.5) < 0.05
    elif distribution == "Uniform":
        assert values.min() >= -2 and values.max() <= 3 and abs(values.mean() - 0.5) < 0.1
    else:
        assert set(np.unique(values)) <= {0.0, 1.0} and abs(values.mean() - 0.3) < 0.03


def test_random_refusals_follow_core_ml_validator():
    cases = [
        (
            "add_random_uniform_static",
            {"minval": 2.0, "maxval": 1.0},
            r"minVal 2 is greater than maxVal 1",
        ),
        ("add_random_bernoulli_static", {"prob": 1.5}, r"prob 1\.5 must lie in \[0, 1\]"),
        ("add_random_normal_static", {"stddev": -1.0}, r"stdDev -1 must not be negative"),
    ]
    for method, kwargs, message in cases:
        spec = network(
            {"x": (1,)},
            lambda b, m=method, k=kwargs: getattr(b, m)("r", "out", output_shape=(2,), **k),
        )
        with pytest.raises(ShapeError, match=r"layer 'r' \(random\w+Static\): " + message):
            compile_network(spec)


# ---- categoricalDistribution ---------------------------------------------------------------


def test_categorical_distribution_draws_by_inverse_cdf_from_the_seeded_uniforms():
    rng = np.random.default_rng(5)
    logits = rng.standard_normal((2, 3, 6))
    spec = network(
        {"x": (3, 6)},
        lambda b: b.add_categorical_distribution(
            "c", "x", "out", num_samples=4, is_logits=True, temperature=0.5, seed=9
        ),
    )
    got = run(spec, {"x": logits})["out"]
    uniforms = np.random.default_rng(9).random((3, 4))
    for n in range(2):
        p = np.exp(logits[n] / np.float32(0.5))
        cdf = np.cumsum(p / p.sum(-1, keepdims=True), -1)
        expected = [
            [np.searchsorted(cdf[d], u, side="right") for u in uniforms[d]] for d in range(3)
        ]
        np.testing.assert_array_equal(got[n], expected)


def test_categorical_distribution_of_probabilities_follows_them():
    probabilities = np.array([[[0.1, 0.0, 0.6, 0.3]]])
    spec = network(
        {"x": (1, 4)},
        lambda b: b.add_categorical_distribution(
            "c", "x", "out", num_samples=20000, is_logits=False, seed=-1
        ),
    )
    draws = run(spec, {"x": probabilities})["out"].reshape(-1)
    frequencies = np.bincount(draws.astype(int), minlength=4) / draws.size
    np.testing.assert_allclose(frequencies, probabilities.reshape(-1), atol=0.015)
    assert frequencies[1] == 0
