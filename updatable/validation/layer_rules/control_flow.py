"""Spec side, validation layer: Core ML's per-layer rules of the control-flow kinds: branch,
loop, loopBreak, loopContinue, and copy (the one layer allowed to overwrite a blob).

Source: coremltools ``mlmodel/src/Validation/NeuralNetwork/NeuralNetworkLayerValidator.cpp``
(``validateBranchLayer``, ``validateLoopLayer``, ``validateLoopContinueBreakLayer``,
``validateCopyLayer``). The nested networks are validated like the top-level one, layer by
layer, each in a scope that starts as a copy of the enclosing network's blobs and ranks; what
they produce becomes visible outside as Core ML decides:

* branch: a blob produced in both the if and the else network (none without an else);
* loop without a condition network: every blob of the body;
* loop with a condition network: every blob of the condition network, and the body's
  producers of those blobs (a body blob the condition network does not know stays inside).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from updatable import proto
from updatable.validation.issues import Issue
from updatable.validation.layer_rules.scope import Scope, counts


def _nested(scope: Scope, network: Any, child: Scope) -> Iterator[Issue]:
    """The first issue of the nested ``network`` (Core ML stops there)."""
    assert scope.walk is not None, "a control-flow rule runs inside a walk"
    for issue in scope.walk(network.layers, child):
        yield issue
        return


def _scalar_input(layer: proto.NeuralNetworkLayer, scope: Scope, kind: str) -> Iterator[Issue]:
    """Y6: the declared shape of a branch / loop input has no dimension above 1."""
    if len(layer.inputTensor) and any(d > 1 for d in layer.inputTensor[0].dimValue):
        message = f"{kind} Layer '{layer.name}' input's length cannot be more than 1"
        yield scope.error("Y6", layer, message)


def _merge(target: dict[str, set[str]], source: dict[str, set[str]], names: Any) -> None:
    for name in names:
        target.setdefault(name, set()).update(source[name])


def _branch(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    """Y6: a condition blob produced before; a non-empty if network; both networks valid."""
    for issue in _scalar_input(layer, scope, "Branch"):
        yield issue
        return
    params, name, condition = layer.branch, layer.name, layer.input[0]
    message = None
    if condition not in scope.blobs:
        message = (
            f"Branch Layer '{name}' requires the condition blob '{condition}' which is not present "
            "in the network prior to this layer."
        )
    elif not len(params.ifBranch.layers):
        message = f"Branch Layer '{name}' has an empty If branch"
    if message:
        yield scope.error("Y6", layer, message)
        return
    where = scope.item(layer)
    if_scope = scope.nested(f"{where}.branch.ifBranch.")
    for issue in _nested(scope, params.ifBranch, if_scope):
        yield issue
        return
    if len(params.elseBranch.layers):
        else_scope = scope.nested(f"{where}.branch.elseBranch.")
        for issue in _nested(scope, params.elseBranch, else_scope):
            yield issue
            return
        both = [blob for blob in if_scope.blobs if blob in else_scope.blobs]
        _merge(scope.blobs, if_scope.blobs, both)
        _merge(scope.blobs, else_scope.blobs, both)


def _loop_structure(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    """Y6: a body; a condition variable exactly when there is a condition network; some way to
    stop (an input, a condition network or maxLoopIterations)."""
    params, name = layer.loop, layer.name
    has_condition = len(params.conditionNetwork.layers) > 0
    message = None
    if not len(params.bodyNetwork.layers):
        message = f"Loop Layer '{name}' has an empty body network"
    elif bool(params.conditionVar) != has_condition:
        message = (
            f"Loop Layer '{name}': condition variable must be provided if condition network "
            "exists and vice versa."
        )
    elif not has_condition and params.maxLoopIterations == 0 and not len(layer.input):
        message = (
            f"Loop Layer '{name}': has no input, no condition network and max loop iterations is 0."
        )
    if message:
        yield scope.error("Y6", layer, message)


def _loop_networks(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    """Y6 and the nested networks' issues: the condition network (if any) produces the
    condition variable; the body network, one loop deeper, is valid."""
    params, name, where = layer.loop, layer.name, scope.item(layer)
    var, has_condition = params.conditionVar, len(params.conditionNetwork.layers) > 0
    condition = scope.nested(f"{where}.loop.conditionNetwork.")
    if has_condition:
        for issue in _nested(scope, params.conditionNetwork, condition):
            yield issue
            return
        if var in scope.blobs:  # an outer blob the condition network must regenerate
            missing = scope.blobs[var] == condition.blobs.get(var, set())
        else:
            missing = var not in condition.blobs
        if missing:
            message = (
                f"Loop Layer '{name}': has conditionVar named '{var}' which is not produced by "
                "the condition network"
            )
            yield scope.error("Y6", layer, message)
            return
        _merge(scope.blobs, condition.blobs, list(condition.blobs))
    body = scope.nested(f"{where}.loop.bodyNetwork.", loop_depth=scope.loop_depth + 1)
    for issue in _nested(scope, params.bodyNetwork, body):
        yield issue
        return
    if not has_condition:
        _merge(scope.blobs, body.blobs, list(body.blobs))
    else:
        _merge(scope.blobs, body.blobs, [b for b in condition.blobs if b in body.blobs])


def _in_loop(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    """Y6: loopBreak / loopContinue sit inside a loop's body network."""
    if scope.loop_depth == 0:
        word = "Break" if layer.WhichOneof("layer") == "loopBreak" else "Continue"
        message = (
            f"Loop {word} Layer '{layer.name}' must be inside the bodyNetwork of a loop layer."
        )
        yield scope.error("Y6", layer, message)


def _copy_names(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    if layer.input[0] == layer.output[0]:
        message = f"Copy layer '{layer.name}' has identical input and output names."
        yield scope.error("Y6", layer, message)


_NOTHING_OUT = counts(0, 1, 0, 0)  # outputs (0, 0) check nothing

RULES = {
    "branch": (counts(1, 1, 0, 0), _branch),
    "loop": (
        _NOTHING_OUT,
        lambda layer, scope: _scalar_input(layer, scope, "Loop"),
        _loop_structure,
        _loop_networks,
    ),
    "loopBreak": (counts(0, 0, 0, 0), _in_loop),
    "loopContinue": (counts(0, 0, 0, 0), _in_loop),
    "copy": (counts(1, 1), _copy_names),
}
