"""Core ML's walk over a network (NeuralNetworkValidator.cpp): the ranks layers declare (Y1) and
what they imply, control flow with nested networks validated layer by layer (Y6), the blobs a
branch or a loop makes visible, and copy."""

from __future__ import annotations

from tests.builders import every_layer
from tests.issue_checks import expect_issue
from tests.layer_mutations import check_case, output_shape, p, ranks
from updatable import proto
from updatable.validation import MODEL_PARAMS, core_ml_issue


def _spec(kind: str):
    spec = every_layer.network(kind)
    return spec, every_layer.nested(spec)


def _add(container, name: str, kind: str, inputs, outputs):
    """A layer of a parameterless kind (``copy``, ``softmaxND``...)."""
    layer = container.layers.add(name=name, input=inputs, output=outputs)
    getattr(layer, kind).SetInParent()
    return layer


def _expect(spec, code, message, where="layers['L']"):
    return expect_issue(spec, code, message, MODEL_PARAMS, where)


# --- Y1: the ranks a layer declares ---------------------------------------------------------


def test_declared_ranks_match_the_blobs():
    check_case(
        "softmaxND",
        [ranks(inputs=(5, 5))],
        "Y1",
        "Layer 'L''s input and inputTensors have different lengths",
    )
    check_case(
        "softmaxND",
        [ranks(outputs=(5, 5))],
        "Y1",
        "Layer 'L''s output and \"outputTensors\" property have different lengths",
    )
    spec, layer = _spec("softmaxND")
    layer.inputTensor.add(rank=5, dimValue=[1, 2])
    _expect(spec, "Y1", "Tensor in layer 'L': rank must match the length of dimValue")


def test_declared_ranks_match_the_model_description():
    check_case(
        "softmaxND",
        [ranks(inputs=(4,))],
        "Y1",
        "Layer 'L''s input 'x0' is also an input to the model. However, for this tensor the rank "
        "provided in the layer description does not match the one provided in the model "
        "description",
    )
    check_case(
        "softmaxND",
        [output_shape("y0", [4]), ranks(outputs=(2,))],
        "Y1",
        "Layer 'L''s output 'y0' is also an output of the model. However, for this tensor the rank "
        "provided in the layer description does not match the one provided in the model "
        "description",
    )


def test_a_blob_keeps_one_rank_and_the_next_layers_read_it():
    spec, layer = _spec("softmaxND")
    layer.outputTensor.add(rank=3)
    after = _add(spec.neuralNetwork, "M", "softmaxND", ["y0"], ["z"])
    after.inputTensor.add(rank=4)
    _expect(spec, "Y1", "Inconsistent rank for the blob named 'y0'.", "layers['M']")
    del after.inputTensor[:]
    after.ClearField("softmaxND")
    after.softmax.SetInParent()  # a rank-5 kind reading the rank-3 blob
    layer.outputTensor[0].rank = 2
    message = "Layer 'M' of type 'Softmax' has input rank 2 but expects rank at least 3."
    _expect(spec, "Y3", message, "layers['M']")


def test_rank5_networks_have_no_rank_rules():
    """Without N-d arrays Core ML ignores the declared ranks (and their count)."""
    spec = every_layer.network("softmax")
    spec.neuralNetwork.arrayInputShapeMapping = 0
    every_layer.set_shape(spec.description.input, "x0", [2, 4, 4])
    every_layer.set_shape(spec.description.output, "y0", [2, 4, 4])
    every_layer.declare_ranks(every_layer.nested(spec), inputs=(1, 1, 1))
    assert core_ml_issue(spec) is None


# --- branch ---------------------------------------------------------------------------------


def test_branch_rules():
    spec, layer = _spec("branch")
    layer.input[0] = "nowhere"
    message = (
        "Branch Layer 'L' requires the condition blob 'nowhere' which is not present in the "
        "network prior to this layer."
    )
    _expect(spec, "Y6", message)  # before N8 (the same missing blob)
    spec, layer = _spec("branch")
    del layer.branch.ifBranch.layers[:]
    _expect(spec, "Y6", "Branch Layer 'L' has an empty If branch")
    spec, layer = _spec("branch")
    every_layer.set_shape(spec.description.input, "x0", [2])
    layer.inputTensor.add(rank=1, dimValue=[2])
    _expect(spec, "Y6", "Branch Layer 'L' input's length cannot be more than 1")


def test_nested_networks_are_validated_layer_by_layer():
    spec, layer = _spec("branch")
    layer.branch.ifBranch.layers[0].input[0] = "nowhere"
    message = "Layer 'L_if' consumes an input named 'nowhere' which is not present in this network."
    _expect(spec, "N8", message, "layers['L'].branch.ifBranch.layers['L_if']")
    spec, layer = _spec("branch")
    _add(layer.branch.elseBranch, "L_else", "copy", ["x0"], ["x0"])
    message = "Copy layer 'L_else' has identical input and output names."
    _expect(spec, "Y6", message, "layers['L'].branch.elseBranch.layers['L_else']")


def test_a_branch_shares_only_what_both_networks_produce():
    spec, layer = _spec("branch")
    _add(spec.neuralNetwork, "after", "copy", ["y_if"], ["z"])
    message = "Layer 'after' consumes an input named 'y_if' which is not present in this network."
    _expect(spec, "N8", message, "layers['after']")  # no else network: nothing is shared
    _add(layer.branch.elseBranch, "L_else", "copy", ["x0"], ["y_if"])
    assert core_ml_issue(spec) is None


# --- loop, loopBreak, loopContinue ----------------------------------------------------------


def test_loop_structure():
    check_case(
        "loop",
        [p(bodyNetwork__layers=[])],
        "Y6",
        "Loop Layer 'L' has an empty body network",
    )
    message = (
        "Loop Layer 'L': condition variable must be provided if condition network exists and "
        "vice versa."
    )
    check_case("loop", [p(conditionVar="c")], "Y6", message)
    spec, layer = _spec("loop")
    _add(layer.loop.conditionNetwork, "cond", "copy", ["x0"], ["c"])
    _expect(spec, "Y6", message)
    check_case(
        "loop",
        [p(maxLoopIterations=0)],
        "Y6",
        "Loop Layer 'L': has no input, no condition network and max loop iterations is 0.",
    )
    spec, layer = _spec("loop")
    every_layer.set_shape(spec.description.input, "x0", [3])
    layer.input.append("x0")
    layer.inputTensor.add(rank=1, dimValue=[3])
    _expect(spec, "Y6", "Loop Layer 'L' input's length cannot be more than 1")


def test_the_condition_network_produces_the_condition():
    spec, layer = _spec("loop")
    layer.loop.conditionVar = "c"
    _add(layer.loop.conditionNetwork, "cond", "copy", ["x0"], ["c2"])
    message = (
        "Loop Layer 'L': has conditionVar named 'c' which is not produced by the condition network"
    )
    _expect(spec, "Y6", message)
    layer.loop.conditionVar = "x0"  # an outer blob must be regenerated inside
    _expect(spec, "Y6", message.replace("'c'", "'x0'"))
    layer.loop.conditionNetwork.layers[0].output[0] = "tmp"  # a copy overwrites it
    _add(layer.loop.conditionNetwork, "again", "copy", ["tmp"], ["x0"])
    assert core_ml_issue(spec) is None


def test_loop_blob_scopes():
    """Without a condition network the body's blobs are visible after the loop; with one, only
    the blobs the condition network knows."""
    spec, layer = _spec("loop")
    _add(spec.neuralNetwork, "after", "copy", ["y_body"], ["z"])
    every_layer.set_shape(spec.description.output, "z", [])
    assert core_ml_issue(spec) is None
    layer.loop.conditionVar = "c"
    _add(layer.loop.conditionNetwork, "cond", "copy", ["x0"], ["c"])
    message = "Layer 'after' consumes an input named 'y_body' which is not present in this network."
    _expect(spec, "N8", message, "layers['after']")


def test_loop_break_and_continue_sit_in_a_loop_body():
    for kind, word in (("loopBreak", "Break"), ("loopContinue", "Continue")):
        spec = every_layer.network(kind)
        network = spec.neuralNetwork
        inner = proto.NeuralNetworkLayer()
        inner.CopyFrom(every_layer.nested(spec))
        del network.layers[:]  # the loop goes; its break / continue stays, at the top
        network.layers.append(inner)
        _add(network, "out", "copy", ["x0"], ["y_extra"])
        message = f"Loop {word} Layer 'L' must be inside the bodyNetwork of a loop layer."
        _expect(spec, "Y6", message)
        # inside a branch inside a loop body: still in the loop
        spec = every_layer.network(kind)
        body = spec.neuralNetwork.layers[0].loop.bodyNetwork
        branch = _add(body, "if", "branch", ["x0"], [])
        branch.branch.ifBranch.layers.add().CopyFrom(every_layer.nested(spec))
        del body.layers[1]  # L, now inside the branch
        assert core_ml_issue(spec) is None


def test_copy_must_rename():
    spec, layer = _spec("copy")
    layer.output[0] = "x0"
    _expect(spec, "Y6", "Copy layer 'L' has identical input and output names.")


def test_ranks_seen_in_a_nested_network_stay_there():
    spec, layer = _spec("loop")
    body_layer = layer.loop.bodyNetwork.layers[0]
    body_layer.outputTensor.add(rank=2)  # y_body is rank 2 inside the body
    after = _add(spec.neuralNetwork, "after", "softmax", ["y_body"], ["z"])
    every_layer.set_shape(spec.description.output, "z", [])
    assert core_ml_issue(spec) is None  # outside, the softmax does not know y_body's rank
    after.inputTensor.add(rank=2)  # unless it declares it
    message = "Layer 'after' of type 'Softmax' has input rank 2 but expects rank at least 3."
    _expect(spec, "Y3", message, "layers['after']")
