"""Control flow: ``loop``, ``branch``, ``loopBreak``, ``loopContinue`` and ``copy`` overwriting a
blob from inside them.

Networks come from coremltools' builder (``add_loop``, ``add_branch``, ``add_loop_break``,
``add_loop_continue``; nested networks filled through a builder on the nested message). Every
expected value is written out in numpy from the pseudo-code of NeuralNetwork.proto's
``LoopLayerParams`` / ``BranchLayerParams``; per-example counts differ across a batch, so the
per-example path is exercised, and a probe custom layer inside bodies records the batch
sizes each step ran with (examples that agree run together).
"""

from __future__ import annotations

import numpy as np
import pytest
from coremltools.models.neural_network import NeuralNetworkBuilder

import runtime
from runtime.kernels import parallel
from runtime.nn.graph import compile_network
from tests.nd_networks import network, run
from updatable import proto
from updatable.errors import ShapeError, UnsupportedLayerError

X = (2, 3, 4)  # the shape of the accumulated blob
SCALAR = (1, 1, 1)


def nested(message) -> NeuralNetworkBuilder:
    """A builder writing into a nested network (a loop's body, a branch's if...)."""
    return NeuralNetworkBuilder(nn_spec=message, disable_rank5_shape_mapping=True)


def accumulate(b: NeuralNetworkBuilder, suffix: str = "") -> None:
    """``acc = acc + x`` (through a copy that overwrites ``acc``)."""
    b.add_elementwise(f"sum{suffix}", ["acc", "x"], f"tmp{suffix}", mode="ADD")
    b.add_copy(f"carry{suffix}", f"tmp{suffix}", "acc")


def count_down(b: NeuralNetworkBuilder) -> None:
    """``c = c - 1``."""
    b.add_elementwise("dec", ["c"], "c_next", mode="ADD", alpha=-1.0)
    b.add_copy("carry_c", "c_next", "c")


@pytest.fixture
def probe():
    """A custom layer class "Probe" (identity) that records the batch sizes it ran with; the
    batch runs in one chunk (no split across threads), so the sizes are the loop's own."""
    sizes: list[int] = []
    parallel.configure(1)

    def forward(inputs, *, weights, parameters):
        sizes.append(inputs[0].shape[0])
        return inputs[0]

    runtime.register_custom_layer("Probe", forward, output_shapes=lambda shapes, _: shapes)
    yield sizes
    runtime.unregister_custom_layer("Probe")
    parallel.configure(None)


def add_probe(b: NeuralNetworkBuilder, source: str, target: str) -> None:
    params = proto.NeuralNetwork_pb2.CustomLayerParams(className="Probe")
    b.add_custom("probe", [source], [target], params)


def batch(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, *X))


def counts(values) -> np.ndarray:
    return np.asarray(values, np.float64).reshape(-1, *SCALAR)


# ---- loops ---------------------------------------------------------------------------------


@pytest.mark.parametrize("iterations", [1, 3])
def test_a_for_loop_runs_its_body_max_iterations_times(iterations):
    def add(b):
        b.add_copy("init", "x", "acc")
        accumulate(nested(b.add_loop("loop", max_iterations=iterations).loop.bodyNetwork))

    spec = network({"x": X}, add, outputs=("acc", "tmp"))
    x = batch(5)
    out = run(spec, {"x": x}, outputs=("acc", "tmp"))
    np.testing.assert_allclose(out["acc"], (1 + iterations) * x, rtol=1e-12)
    np.testing.assert_allclose(out["tmp"], out["acc"], rtol=1e-12)


def test_a_count_input_sets_each_examples_iterations_rounded_down():
    def add(b):
        b.add_copy("init", "x", "acc")
        accumulate(nested(b.add_loop("loop", input_name="n", max_iterations=9).loop.bodyNetwork))

    spec = network({"x": X, "n": SCALAR}, add, outputs=("acc", "tmp"))
    x, n = batch(6), counts([0, 2, 2.7, -1, 5, 1])
    out = run(spec, {"x": x, "n": n}, outputs=("acc", "tmp"))
    ran = np.array([0, 2, 2, 0, 5, 1])[:, None, None, None]
    np.testing.assert_allclose(out["acc"], x * (1 + ran), rtol=1e-12)
    # tmp is made only by the body: zeros where the body never ran (our reading)
    np.testing.assert_allclose(out["tmp"], np.where(ran > 0, out["acc"], 0), rtol=1e-12)


def _while_network(max_iterations=None):
    def add(b):
        b.add_copy("init", "x", "acc")
        b.add_copy("init_c", "n", "c")
        loop = b.add_loop("loop", condition="go", max_iterations=max_iterations)
        nested(loop.loop.conditionNetwork).add_activation("test", "LINEAR", "c", "go", [1.0, 0.0])
        body = nested(loop.loop.bodyNetwork)
        accumulate(body)
        count_down(body)

    return network({"x": X, "n": SCALAR}, add, outputs=("acc", "c", "go"))


def test_a_while_loop_runs_until_its_condition_is_false_example_by_example():
    x, n = batch(5), counts([3, 0, 1, 4, 3])
    out = run(_while_network(), {"x": x, "n": n}, outputs=("acc", "c", "go"))
    np.testing.assert_allclose(out["acc"], x * (1 + n), rtol=1e-12)
    np.testing.assert_array_equal(out["c"], 0 * n)
    np.testing.assert_array_equal(out["go"], 0 * n)  # the condition's last evaluation


def test_a_joint_loop_stops_at_the_condition_or_the_count_whichever_comes_first():
    x, n = batch(4), counts([3, 0, 1, 2])
    out = run(_while_network(max_iterations=2), {"x": x, "n": n}, outputs=("acc", "c"))
    np.testing.assert_allclose(out["acc"], x * (1 + np.minimum(n, 2)), rtol=1e-12)
    np.testing.assert_array_equal(out["c"], n - np.minimum(n, 2))


def test_a_condition_within_1e_minus_6_of_zero_is_false():
    x = batch(4)
    # c starts at these values, and the body subtracts 1: only |c| > 1e-6 enters the body
    n = counts([1e-6, -1e-6, 2e-6, 0.0])
    out = run(_while_network(max_iterations=1), {"x": x, "n": n}, outputs=("acc",))
    np.testing.assert_allclose(out["acc"], x * np.array([1, 1, 2, 1])[:, None, None, None])


def _break_network(iterations=10):
    def add(b):
        b.add_copy("init", "x", "acc")
        b.add_copy("init_c", "n", "c")
        body = nested(b.add_loop("loop", max_iterations=iterations).loop.bodyNetwork)
        count_down(body)
        accumulate(body)
        # done = relu(1 - c): 1 when the count reaches 0, else 0 (c is a whole number)
        body.add_activation("one_minus_c", "LINEAR", "c", "left", [-1.0, 1.0])
        body.add_activation("done", "RELU", "left", "done")
        nested(body.add_branch("stop?", "done").branch.ifBranch).add_loop_break("stop")

    return network({"x": X, "n": SCALAR}, add, outputs=("acc", "c"))


@pytest.mark.parametrize("values", [[2, 2, 2], [1, 4, 2, 3]], ids=["agreeing", "parting"])
def test_a_break_in_a_branch_ends_the_loop_for_the_examples_that_take_it(values):
    x, n = batch(len(values)), counts(values)
    out = run(_break_network(), {"x": x, "n": n}, outputs=("acc", "c"))
    np.testing.assert_allclose(out["acc"], x * (1 + n), rtol=1e-12)
    np.testing.assert_array_equal(out["c"], 0 * n)


def test_with_a_condition_network_only_the_bodys_overwrites_are_visible_after_the_loop():
    def add(b):
        b.add_copy("init", "x", "acc")
        b.add_copy("init_c", "n", "c")
        loop = b.add_loop("loop", condition="go")
        nested(loop.loop.conditionNetwork).add_activation("test", "LINEAR", "c", "go", [1.0, 0.0])
        body = nested(loop.loop.bodyNetwork)
        accumulate(body)
        count_down(body)
        b.add_activation("after", "LINEAR", "tmp", "out", [1.0, 0.0])

    spec = network({"x": X, "n": SCALAR}, add, outputs=("out",))
    with pytest.raises(ShapeError, match="'after' reads blob 'tmp', which no earlier layer"):
        compile_network(spec)


def test_a_continue_skips_the_rest_of_the_iteration_and_counts_it():
    def add(b):
        b.add_copy("init", "x", "acc")
        body = nested(b.add_loop("loop", max_iterations=3).loop.bodyNetwork)
        nested(body.add_branch("skip?", "f").branch.ifBranch).add_loop_continue("skip")
        accumulate(body)

    spec = network({"x": X, "f": SCALAR}, add, outputs=("acc",))
    x, f = batch(4), counts([0, 1, 0, 1])
    out = run(spec, {"x": x, "f": f}, outputs=("acc",))
    np.testing.assert_allclose(out["acc"], x * (1 + 3 * (f == 0)), rtol=1e-12)


def test_loops_nest_and_an_unconditional_break_ends_only_the_inner_loop():
    def add(b):
        b.add_copy("init", "x", "acc")
        outer = nested(b.add_loop("outer", max_iterations=3).loop.bodyNetwork)
        inner = nested(outer.add_loop("inner", max_iterations=2).loop.bodyNetwork)
        accumulate(inner)
        inner.add_loop_break("once")  # after one accumulation

    spec = network({"x": X}, add, outputs=("acc",))
    x = batch(3)
    np.testing.assert_allclose(run(spec, {"x": x}, outputs=("acc",))["acc"], 4 * x, rtol=1e-12)


def test_examples_that_agree_run_their_iterations_together(probe):
    def add(b):
        b.add_copy("init", "x", "acc")
        b.add_copy("init_c", "n", "c")
        loop = b.add_loop("loop", condition="go")
        nested(loop.loop.conditionNetwork).add_activation("test", "LINEAR", "c", "go", [1.0, 0.0])
        body = nested(loop.loop.bodyNetwork)
        add_probe(body, "acc", "seen")
        body.add_elementwise("sum", ["seen", "x"], "tmp", mode="ADD")
        body.add_copy("carry", "tmp", "acc")
        count_down(body)

    spec = network({"x": X, "n": SCALAR}, add, outputs=("acc",))
    x, n = batch(4), counts([2, 2, 3, 2])
    out = run(spec, {"x": x, "n": n}, outputs=("acc",))
    np.testing.assert_allclose(out["acc"], x * (1 + n), rtol=1e-12)
    # two iterations of all four, then the third iteration of example 2 alone; each example
    # whose loop has ended runs no body
    assert probe == [4, 4, 1]


def test_a_batch_gives_what_each_example_gives_alone():
    spec, x, n = _while_network(), batch(5, seed=3), counts([3, 0, 1, 4, 2])
    together = run(spec, {"x": x, "n": n}, outputs=("acc", "c"))
    for i in range(len(x)):
        alone = run(spec, {"x": x[i : i + 1], "n": n[i : i + 1]}, outputs=("acc", "c"))
        for name in ("acc", "c"):
            np.testing.assert_array_equal(together[name][i : i + 1], alone[name])


# ---- branches ------------------------------------------------------------------------------


def _branch_network(with_else=True):
    def add(b):
        b.add_copy("init", "x", "z")
        branch = b.add_branch("choose", "p")
        then = nested(branch.branch.ifBranch)
        then.add_elementwise("double", ["x"], "y", mode="MULTIPLY", alpha=2.0)
        then.add_copy("overwrite", "y", "z")
        then.add_elementwise("only_if", ["x"], "w", mode="ADD", alpha=5.0)
        if with_else:
            nested(branch.branch.elseBranch).add_elementwise(
                "inc", ["x"], "y", mode="ADD", alpha=1.0
            )

    return add


def test_a_branch_runs_if_or_else_per_example_and_keeps_what_it_does_not_overwrite():
    spec = network({"x": X, "p": SCALAR}, _branch_network(), outputs=("y", "z"))
    x, p = batch(5), counts([1, 0, -1, 1e-7, 2e-6])
    out = run(spec, {"x": x, "p": p}, outputs=("y", "z"))
    taken = np.abs(p) > 1e-6
    np.testing.assert_allclose(out["y"], np.where(taken, 2 * x, x + 1), rtol=1e-12)
    np.testing.assert_allclose(out["z"], np.where(taken, 2 * x, x), rtol=1e-12)


def test_a_blob_only_one_branch_makes_is_not_visible_after_the_branch():
    def add(b):
        _branch_network()(b)
        b.add_activation("after", "LINEAR", "w", "out", [1.0, 0.0])

    spec = network({"x": X, "p": SCALAR}, add, outputs=("out",))
    with pytest.raises(ShapeError, match="'after' reads blob 'w', which no earlier layer"):
        compile_network(spec)


def test_an_absent_else_leaves_every_blob_as_it_was():
    spec = network({"x": X, "p": SCALAR}, _branch_network(with_else=False), outputs=("z",))
    x, p = batch(2), counts([0, 1])
    out = run(spec, {"x": x, "p": p}, outputs=("z",))
    np.testing.assert_allclose(out["z"], np.stack([x[0], 2 * x[1]]), rtol=1e-12)


def test_a_control_flow_model_predicts_through_runtime_model():
    spec = _while_network()
    model = runtime.Model.load(spec)
    x, n = batch(3), counts([1, 0, 2])
    outputs = model.predict_batch([{"x": xi, "n": ni} for xi, ni in zip(x, n, strict=True)])
    for out, xi, ni in zip(outputs, x, n, strict=True):
        np.testing.assert_allclose(out["acc"], xi * (1 + ni), rtol=1e-6)


# ---- refusals ------------------------------------------------------------------------------


def filled(network_message):
    """A nested network that does something (Core ML refuses empty bodies and if branches)."""
    nested(network_message).add_copy("fill", "x", "filled")
    return network_message


def _refused(add, inputs=None, error=ShapeError, match=""):
    spec = network(inputs or {"x": X, "n": SCALAR}, add, outputs=("x",))
    with pytest.raises(error, match=match):
        compile_network(spec)


def test_a_break_or_continue_outside_a_loop_body_is_refused():
    _refused(
        lambda b: b.add_loop_break("stop"),
        error=UnsupportedLayerError,
        match=r"layer 'stop' \(loopBreak\): sits outside the bodyNetwork",
    )

    def in_condition(b):
        loop = b.add_loop("loop", condition="go")
        condition = nested(loop.loop.conditionNetwork)
        condition.add_activation("test", "LINEAR", "n", "go", [1.0, 0.0])
        condition.add_loop_continue("next")
        filled(loop.loop.bodyNetwork)

    _refused(in_condition, error=UnsupportedLayerError, match=r"'next' \(loopContinue\)")


def test_loops_with_malformed_counts_or_conditions_are_refused():
    _refused(
        lambda b: filled(b.add_loop("loop", input_name="x").loop.bodyNetwork),
        match=r"iteration count input must be a scalar; got shape \[2, 3, 4\]",
    )

    def missing(b):
        loop = b.add_loop("loop", condition="nowhere")
        nested(loop.loop.conditionNetwork).add_activation("t", "LINEAR", "n", "go", [1.0, 0.0])
        filled(loop.loop.bodyNetwork)

    _refused(missing, match="makes no blob 'nowhere'")

    def wide(b):
        loop = b.add_loop("loop", condition="go")
        nested(loop.loop.conditionNetwork).add_activation("t", "LINEAR", "x", "go", [1.0, 0.0])
        filled(loop.loop.bodyNetwork)

    _refused(wide, match=r"conditionVar must be a scalar; got shape \[2, 3, 4\]")


def test_a_loop_that_changes_a_carried_blobs_shape_is_refused():
    def add(b):
        b.add_copy("init", "n", "acc")
        nested(b.add_loop("loop", max_iterations=2).loop.bodyNetwork).add_copy("c", "x", "acc")

    _refused(add, match=r"leaves blob 'acc' with shape \[2, 3, 4\] where shape \[1, 1, 1\]")


def test_loops_and_branches_core_ml_refuses_are_refused():
    _refused(lambda b: b.add_loop("loop", max_iterations=2), match="has an empty body network")

    def unbounded(b):
        nested(b.add_loop("loop").loop.bodyNetwork).add_copy("c", "x", "y")

    _refused(unbounded, match="nothing bounds it")

    def condition_without_var(b):
        loop = b.add_loop("loop", max_iterations=1)
        nested(loop.loop.conditionNetwork).add_activation("t", "LINEAR", "n", "go", [1.0, 0.0])
        nested(loop.loop.bodyNetwork).add_copy("c", "x", "y")

    _refused(condition_without_var, match="conditionVar must name a blob exactly when")

    def empty_if(b):
        branch = b.add_branch("choose", "n")
        nested(branch.branch.elseBranch).add_copy("c", "x", "y")

    _refused(empty_if, match=r"'choose' \(branch\): has an empty if branch")


def test_a_non_copy_layer_cannot_overwrite_an_outer_blob_and_predicates_are_scalars():
    def add(b):
        b.add_copy("init", "x", "acc")
        body = nested(b.add_loop("loop", max_iterations=2).loop.bodyNetwork)
        body.add_activation("relu", "RELU", "x", "acc")

    _refused(add, match="'relu' writes blob 'acc', which is already defined")
    _refused(
        lambda b: filled(b.add_branch("choose", "x").branch.ifBranch),
        match=r"'choose' \(branch\): the predicate must be a scalar",
    )


def test_a_nested_layer_the_runtime_cannot_run_is_named_before_anything_compiles():
    def add(b):
        body = nested(b.add_loop("loop", max_iterations=2).loop.bodyNetwork)
        body.nn_spec.layers.add(name="mystery", input=["x"], output=["m"])

    _refused(add, error=UnsupportedLayerError, match=r"'mystery' \(no type set\)")


def test_a_carried_blob_leaves_each_iteration_in_the_layout_it_came_in():
    """``acc`` is made channels-last (softmax runs chw) and overwritten in the body from nd
    kinds (transposes): the body ends with a relayout back, so iteration 2 reads what
    iteration 1 was compiled for."""

    def add(b):
        b.add_softmax("start", "x", "acc")
        body = nested(b.add_loop("loop", max_iterations=3).loop.bodyNetwork)
        body.add_transpose("t1", [0, 2, 1], "acc", "t1")
        body.add_transpose("t2", [0, 2, 1], "t1", "t2")
        body.add_elementwise("sum", ["t2", "x"], "tmp", mode="ADD")
        body.add_copy("carry", "tmp", "acc")

    spec = network({"x": X}, add, outputs=("acc",))
    net = compile_network(spec)
    loop = next(step for step in net.steps if step.kind.oneof == "loop")
    assert net.tensors["acc"].layout == "chw"
    assert loop.attrs.body[-1].name == "relayout acc back"
    x = batch(3)
    softmax = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(
        run(spec, {"x": x}, outputs=("acc",))["acc"], softmax + 3 * x, rtol=1e-12
    )
