"""The N-D execution core: the two blob layouts and their conversions, the registry's families,
the compiler's layout choice and relayout steps, compile-time values and one-example steps.

Layout conversions are checked against an index-by-index numpy reference; networks come from
coremltools' builder with ``EXACT_ARRAY_MAPPING`` (``tests.nd_networks``) and are checked
against numpy on the Core ML tensors; the compiler's hooks are driven with small kinds
written here.
"""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.nn import execution
from runtime.nn.graph import compile_network
from runtime.nn.layers import CHW, FAMILIES, ND, REGISTRY, Built, LayerKind, Step, get_kind
from runtime.nn.layers import _merged as merged_families
from runtime.nn.layers._nd_broadcast import broadcast_shape
from runtime.nn.planner import Planner
from runtime.nn.tensors import RELAYOUT, RelayoutAttrs, Tensor, to_chw, to_nd
from tests import builders
from tests.builders import converter_style
from tests.nd_networks import network, run
from updatable.errors import ShapeError

# ---- layouts -------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_chw_and_nd_hold_the_same_values_in_their_orders(seed):
    """Element ``[n, *lead, c, h, w]`` of the nd array is element ``[n * L + l, h, w, c]`` of
    the chw array, ``l`` the leading position in row-major order."""
    rng = np.random.default_rng(seed)
    lead = tuple(int(d) for d in rng.integers(1, 4, size=int(rng.integers(0, 3))))
    shape = (*lead, *(int(d) for d in rng.integers(1, 5, size=3)))
    x = rng.standard_normal((2, *shape)).astype(np.float32)
    folded = to_chw(x, shape)
    count = int(np.prod(lead))
    assert folded.shape == (2 * count, shape[-2], shape[-1], shape[-3])
    assert folded.flags.c_contiguous
    for index in np.ndindex(x.shape):
        n, *at, c, h, w = index
        row = n * count + (int(np.ravel_multi_index(at, lead)) if lead else 0)
        assert folded[row, h, w, c] == x[index]
    np.testing.assert_array_equal(to_nd(folded, shape), x)
    assert Tensor(shape, CHW).fold == count and Tensor(shape, ND).fold == 1


def test_a_chw_tensor_has_rank_3_or_more():
    with pytest.raises(ValueError, match=r"rank 3 or more; got shape \[1, 10\]"):
        Tensor((1, 10), CHW)
    with pytest.raises(ValueError, match="layout must be one of"):
        Tensor((1, 10), "nhwc")


# ---- registry ------------------------------------------------------------------------------


def test_the_registry_is_the_union_of_its_families_and_every_entry_loads_its_kind():
    assert set(FAMILIES) == {"legacy", "tensor", "elementwise", "sequence", "control"}
    assert sum(len(kinds) for kinds in FAMILIES.values()) == len(REGISTRY)
    for oneof, module in REGISTRY.items():
        kind = get_kind(oneof)
        assert kind is importlib.import_module(module).KIND
        assert kind.oneof == oneof, module
        assert kind.layouts and set(kind.layouts) <= {CHW, ND}, oneof


def test_a_kind_registered_by_two_families_is_refused():
    with pytest.raises(ImportError, match="'softmaxND' is registered twice: family 'b'"):
        merged_families({"a": {"softmaxND": "x.a"}, "b": {"softmaxND": "x.b"}})


# ---- the compiler's layouts ----------------------------------------------------------------


def _kinds(net):
    return [step.kind.oneof for step in net.steps]


def _channel_sum(name, source, target):
    """A rank-5 ``reduce`` layer (``chw`` only): the sum over C, kept as an axis of 1."""
    return lambda b: b.add_reduce(name, source, target, "C", "sum")


def test_a_blob_read_in_both_layouts_is_converted_once_and_inputs_only_chw_read_start_chw():
    def layers(b):
        _channel_sum("sum1", "x", "r")(b)  # chw
        _channel_sum("sum2", "x", "s")(b)  # chw: shares the conversion of x
        b.add_reshape_static("flat", "x", "f", [1, 24])  # nd: reads x as it is
        b.add_reshape_static("back", "r", "out", [3, 4])  # nd: converts r
        _channel_sum("sum3", "y", "y2")(b)  # y is only read chw
        b.add_activation("relu", "RELU", "y2", "y3")  # either layout: stays chw

    spec = network({"x": (1, 2, 3, 4), "y": (2, 3, 4)}, layers, ("out", "s", "f", "y3"))
    net = compile_network(spec)
    assert _kinds(net) == [
        "relayout",
        "reduce",
        "reduce",
        "reshapeStatic",
        "relayout",
        "reshapeStatic",
        "reduce",
        "activation",
    ]
    assert net.steps[0].inputs == ("x",) and net.steps[2].inputs == net.steps[1].inputs
    assert net.tensors["x"] == Tensor((1, 2, 3, 4), ND)
    assert net.tensors["y"] == Tensor((2, 3, 4), CHW) and net.inputs["y"] == (3, 4, 2)
    assert net.tensors["r"] == Tensor((1, 1, 3, 4), CHW) and net.shapes["r"] == (3, 4, 1)
    assert net.tensors["out"] == Tensor((3, 4), ND) and net.tensors["y3"].layout == CHW
    x = np.random.default_rng(0).standard_normal((3, 1, 2, 3, 4))
    y = np.random.default_rng(1).standard_normal((3, 2, 3, 4))
    got = run(spec, {"x": x, "y": y}, ("out", "s", "f", "y3"))
    np.testing.assert_allclose(got["out"], x.sum(axis=2).reshape(3, 3, 4), rtol=1e-12)
    np.testing.assert_allclose(got["s"], x.sum(axis=2, keepdims=True), rtol=1e-12)
    np.testing.assert_array_equal(got["f"], x.reshape(3, 1, 24))
    np.testing.assert_allclose(got["y3"], np.maximum(y.sum(axis=1, keepdims=True), 0), rtol=1e-12)


def test_leading_axes_fold_into_the_batch_for_rank_5_layers():
    """[2, 3, 4, 5]: the rank-5 pooling sees 2 images per example; softmaxND over axis 0 then
    mixes the two, so a wrong fold order shows."""

    def layers(b):
        b.add_pooling("pool", 2, 2, 2, 2, "MAX", "VALID", "x", "p")
        b.add_softmax_nd("soft", "p", "out", axis=0)

    spec = network({"x": (2, 3, 4, 6)}, layers)
    net = compile_network(spec)
    assert net.tensors["p"] == Tensor((2, 3, 2, 3), CHW) and net.tensors["p"].fold == 2
    x = np.random.default_rng(2).standard_normal((4, 2, 3, 4, 6))
    pooled = x.reshape(4, 2, 3, 2, 2, 3, 2).max(axis=(4, 6))
    e = np.exp(pooled - pooled.max(axis=1, keepdims=True))
    np.testing.assert_allclose(
        run(spec, {"x": x})["out"], e / e.sum(axis=1, keepdims=True), rtol=1e-12
    )


def test_a_copy_that_overwrites_a_blob_gets_a_new_conversion():
    """``r`` (nd) is read chw, then overwritten by a copy of ``-r`` (nd): the next chw reader
    must convert the new blob, not reuse the conversion of the old one."""

    def layers(b):
        b.add_reshape_static("r0", "x", "r", [1, 2, 2, 3])
        _channel_sum("a", "r", "first")(b)
        b.add_activation("neg", "LINEAR", "r", "n", params=[-1.0, 0.0])
        b.add_copy("overwrite", "n", "r")
        _channel_sum("b", "r", "second")(b)

    spec = network({"x": (12,)}, layers, ("first", "second"))
    net = compile_network(spec)
    relayouts = [step for step in net.steps if step.kind is RELAYOUT]
    assert len(relayouts) == 2 and net.steps[-1].inputs == relayouts[1].outputs
    x = np.random.default_rng(3).standard_normal((2, 12))
    got = run(spec, {"x": x}, ("first", "second"))
    summed = x.reshape(2, 1, 2, 2, 3).sum(axis=2, keepdims=True)
    np.testing.assert_allclose(got["first"], summed, rtol=1e-12)
    np.testing.assert_allclose(got["second"], -summed, rtol=1e-12)


def test_a_rank_5_kind_is_refused_on_inputs_with_different_leading_axes():
    def layers(b):
        b.add_elementwise("join", ["x", "y"], "out", "CONCAT")

    with pytest.raises(
        ShapeError,
        match=r"layer 'join' \(concat\) reads 'x' of shape "
        r"\[2, 3, 1, 1\], 'y' of shape \[3, 1, 1\]",
    ):
        compile_network(network({"x": (2, 3, 1, 1), "y": (3, 1, 1)}, layers))


# ---- compile-time values and one-example steps (the hooks for dynamic kinds) -------------------


def _layer(name, inputs, outputs):
    return SimpleNamespace(
        name=name, input=list(inputs), output=list(outputs), WhichOneof=lambda _: name
    )


def _nd_kind(oneof, build, forward, **extra):
    return LayerKind(oneof, build, forward, layouts=(ND,), **extra)


def test_build_gets_the_values_of_its_value_inputs_when_no_model_input_feeds_them():
    constant = _nd_kind(
        "const",
        lambda layer, shapes: Built(None, {}, [(2,)]),
        lambda a, p, xs, keep=False, out=None: ([np.float32([[3, 4]])], None),
    )
    double = _nd_kind(
        "double",
        lambda layer, shapes: Built(None, {}, [shapes[0]]),
        lambda a, p, xs, keep=False, out=None: ([2 * xs[0]], None),
    )
    shape_of = _nd_kind(
        "shape",
        lambda layer, shapes: Built(None, {}, [(len(shapes[0]),)]),
        lambda a, p, xs, keep=False, out=None: ([np.float32([x.shape[1:] for x in xs[:1]])], None),
        shape_only=True,
    )
    seen = []

    def consumer_build(layer, shapes, values):
        seen.append(values)
        return Built(None, {}, [shapes[0]])

    consumer = _nd_kind("consumer", consumer_build, None, value_inputs=(1, 2, 3))
    planner = Planner({"x": Tensor((5, 7), ND)}, set())
    planner.add_layer(_layer("c", [], ["c"]), constant)
    planner.add_layer(_layer("d", ["c"], ["d"]), double)
    planner.add_layer(_layer("s", ["x"], ["s"]), shape_of)
    planner.add_layer(_layer("data", ["x"], ["y"]), double)
    planner.add_layer(_layer("use", ["x", "d", "s", "y"], ["out"]), consumer)
    (values,) = seen
    assert values[0] is None and values[3] is None  # not listed / fed by the model input
    np.testing.assert_array_equal(values[1], [6, 8])
    np.testing.assert_array_equal(values[2], [5, 7])


def _per_example_step(shapes_by_example):
    """A step that runs one example at a time and makes an output of the given shape."""
    calls = []

    def forward(attrs, params, xs, keep=False, out=None):
        calls.append(xs[0].shape[0])
        return [np.zeros((1, *shapes_by_example(xs[0][0, 0])), xs[0].dtype)], None

    kind = _nd_kind("perExample", None, forward)
    return Step("each", kind, ("x",), ("y",), None, {}, per_example=True), calls


def test_a_per_example_step_runs_each_example_alone_and_needs_one_shape_per_batch():
    step, calls = _per_example_step(lambda first: (2,))
    plan = execution.make_plan([step], ("y",))
    x = np.arange(3, dtype=np.float32).reshape(3, 1)
    assert execution.execute(plan, {"x": x})["y"].shape == (3, 2) and calls == [1, 1, 1]
    step, _ = _per_example_step(lambda first: (int(first) + 1,))
    with pytest.raises(
        ShapeError,
        match=r"layer 'each' \(perExample\) makes outputs of shapes "
        r"\[\[2\]\] for example 1 but \[\[1\]\] for example 0",
    ):
        execution.execute(execution.make_plan([step], ("y",)), {"x": x})


def test_relayout_steps_are_internal_and_invert_in_backward():
    assert "relayout" not in REGISTRY
    step_input = np.random.default_rng(4).standard_normal((2, 3, 1, 4, 5))
    attrs = RelayoutAttrs((3, 1, 4, 5), ND, CHW)
    (folded,), _ = RELAYOUT.forward(attrs, {}, [step_input])
    (back,), _ = RELAYOUT.backward(attrs, {}, None, [folded])
    np.testing.assert_array_equal(back, step_input)


@pytest.mark.parametrize(
    "make",
    [
        builders.classifier_nn,
        builders.mnist_convnet,
        builders.fire_net,
        builders.image_classifier,
        converter_style.keras_image_classifier,
        converter_style.keras_segmenter,
    ],
    ids=lambda make: make.__name__,
)
def test_rank_5_networks_compile_as_before_every_blob_chw_and_no_relayout(make):
    net = compile_network(make())
    assert all(step.kind is not RELAYOUT for step in net.steps)
    assert {tensor.layout for tensor in net.tensors.values()} == {CHW}
    assert all(net.shapes[name] == tensor.chw for name, tensor in net.tensors.items())


# ---- properties ----------------------------------------------------------------------------

_dims = st.lists(st.integers(1, 4), min_size=1, max_size=5)


@settings(max_examples=60, deadline=None)
@given(a=_dims, b=_dims)
def test_broadcast_shapes_follow_numpy_or_are_refused_naming_the_layer(a, b):
    layer = SimpleNamespace(name="op", WhichOneof=lambda _: "addBroadcastable")
    try:
        expected = np.broadcast_shapes(tuple(a), tuple(b))
    except ValueError:
        with pytest.raises(ShapeError, match=r"layer 'op' \(addBroadcastable\): inputs of shapes"):
            broadcast_shape(layer, [tuple(a), tuple(b)])
        return
    assert broadcast_shape(layer, [tuple(a), tuple(b)]) == expected


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 3), min_size=3, max_size=6), batch=st.integers(1, 3))
def test_chw_and_nd_round_trip_for_any_shape(shape, batch):
    x = np.arange(batch * int(np.prod(shape)), dtype=np.float32).reshape(batch, *shape)
    np.testing.assert_array_equal(to_nd(to_chw(x, tuple(shape)), tuple(shape)), x)
