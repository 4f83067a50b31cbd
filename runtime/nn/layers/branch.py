"""Runtime, neural-network layer: Core ML ``branch`` layer: if-else over nested networks.

``BranchLayerParams`` (NeuralNetwork.proto, Core ML 3): one input, a scalar predicate, and no
outputs; ``ifBranch`` runs when the predicate's absolute value is above 1e-6, the optional
``elseBranch`` otherwise. The blobs the branch networks make are visible after the layer,
and a ``copy`` layer inside may overwrite a blob made before it
(``runtime.nn.layers._control_nested``).

Readings of what the proto leaves open (pinned by tests/test_layers_control_flow.py):

* after the layer exist the blobs both branches make, and the blobs made before it that
  either branch overwrites (unchanged when the branch that ran did not); a blob that only one
  branch makes is not visible after the layer (as Core ML's validator scopes them: the other
  path would leave it undefined);
* each such blob has one shape whichever branch runs (the runtime compiles static shapes);
* examples of a batch run together when they agree on the predicate, else each runs its own
  branch; a branch that holds a ``loopBreak`` / ``loopContinue`` and parts the examples
  hands the decision to the loop around it, which runs that iteration one example at a time.

No backward: Core ML trains no layer through a branch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from updatable.errors import ShapeError

from ._common import where
from ._control_nested import (
    Diverged,
    batch_size,
    compile_nested,
    example_rows,
    holds_signals,
    run_steps,
    stack_examples,
    truth,
    written_names,
)
from .base import Built, LayerKind


@dataclass(frozen=True)
class BranchAttrs:
    if_steps: tuple
    else_steps: tuple  # empty without an elseBranch
    signals: bool  # a branch network breaks or continues the loop around it
    inputs: tuple[str, ...]  # the predicate first
    outputs: tuple[str, ...]
    folds: dict  # blob -> rows per example, for every input and output


def build(layer, scope) -> Built:
    params = layer.branch
    if len(layer.input) != 1 or layer.output:
        raise ShapeError(
            f"{where(layer)}: takes 1 input (the predicate) and no outputs; got "
            f"{len(layer.input)} inputs, {len(layer.output)} outputs"
        )
    if not params.ifBranch.layers:
        raise ShapeError(f"{where(layer)}: has an empty if branch (Core ML's validator refuses it)")
    predicate = scope.tensors[layer.input[0]]
    if predicate.size() != 1:
        raise ShapeError(
            f"{where(layer)}: the predicate must be a scalar; got shape {list(predicate.shape)}"
        )
    # an empty else branch is absent (coremltools' builder always writes one)
    networks = [net for net in (params.ifBranch, params.elseBranch) if net.layers]
    written = [n for net in networks for n in written_names(net)]
    keep = {name: scope.tensors[name] for name in written if name in scope.tensors}
    compiled: list[Any] = []
    for network in networks:
        exits = dict(keep)
        if compiled:  # blobs new to both branches leave the else branch as the if branch's
            exits.update({n: compiled[0].tensors[n] for n in compiled[0].writes if n not in keep})
        planner = scope.nested(carried=set(written))
        compiled.append(compile_nested(planner, network, layer, exits))
    new_in_both = [
        n
        for n in compiled[0].writes
        if n not in keep and len(compiled) == 2 and n in compiled[1].writes
    ]
    outputs = tuple(dict.fromkeys([*(n for n in written if n in keep), *new_in_both]))
    reads = [layer.input[0], *(n for c in compiled for n in c.reads), *keep]
    inputs = tuple(dict.fromkeys(reads))
    tensors = {
        **{n: scope.tensors[n] for n in inputs},
        **{n: compiled[0].tensors[n] for n in new_in_both},
        **keep,
    }
    attrs = BranchAttrs(
        compiled[0].steps,
        compiled[1].steps if len(compiled) == 2 else (),
        any(holds_signals(net) for net in networks),
        inputs,
        outputs,
        {name: tensor.fold for name, tensor in tensors.items()},
    )
    return Built(attrs, {}, [tensors[n] for n in outputs], inputs=inputs, outputs=outputs)


def forward(attrs: BranchAttrs, params, xs, keep=False, out=None):
    """Run the branch each example's predicate picks (module docstring)."""
    del params, keep, out
    batch = batch_size(xs, tuple(attrs.folds[n] for n in attrs.inputs))
    blobs = dict(zip(attrs.inputs, xs, strict=True))
    take = truth(xs[0], batch)
    if take.all() or not take.any():
        run_steps(attrs.if_steps if batch == 0 or take[0] else attrs.else_steps, blobs, batch)
    elif attrs.signals:
        raise Diverged
    else:
        results = []
        for index in range(batch):
            one = example_rows(blobs, attrs.folds, index)
            run_steps(attrs.if_steps if take[index] else attrs.else_steps, one, 1)
            results.append(one)
        blobs = stack_examples(results, attrs.outputs)
    return [blobs[name] for name in attrs.outputs], None


KIND = LayerKind("branch", build, forward, scoped=True)
