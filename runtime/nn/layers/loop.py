"""Runtime, neural-network layer: Core ML ``loop`` layer: a for, while, or joint loop over nested
networks.

``LoopLayerParams`` (NeuralNetwork.proto, Core ML 3). With ``limit`` = the value of the one
optional input (a scalar), else ``maxLoopIterations``::

    no conditionNetwork:                   for i in range(limit): body()
    conditionNetwork, limit 0, no input:   while cond(): body()
    conditionNetwork and a limit:          i = 0; while cond() and i < limit: body(); i += 1

``cond()`` runs ``conditionNetwork`` (an empty one is absent) and reads the scalar blob
``conditionVar``: true when its absolute value is above 1e-6 ("a value close to 0.0f is
treated as False"). The layer has no outputs of its own: the blobs its networks make are
visible after it, and a ``copy`` layer inside may overwrite a blob made before the loop
(the loop-carried state of converted while loops; ``runtime.nn.layers._control_nested``).
Which blobs are visible follows Core ML's validator: every blob of the condition network,
and of the body either every blob (no condition network) or those it overwrites (blobs
made before the body). ``loopBreak`` ends the loop, ``loopContinue`` the iteration (it
counts as one). Refused as Core ML's validator refuses: an empty body, a ``conditionVar``
without condition network or the reverse, a loop that nothing bounds.

Readings of what the proto leaves open (pinned by tests/test_layers_control_flow.py):

* the count input is rounded down; a negative count runs no iteration;
* a blob that only the body makes (visible without a condition network) holds zeros when
  the body never runs;
* a ``loopBreak`` / ``loopContinue`` in a condition network is refused (the proto places
  them in bodies);
* examples of a batch run together while they agree on every decision (condition, count,
  break), and one at a time from the iteration where they part, so a loop whose trip count
  depends on each example's data runs per example.

No backward: Core ML trains no layer through a loop.
"""

from __future__ import annotations

import numpy as np

from updatable.errors import ShapeError

from ._common import where
from ._control_loop import LoopAttrs, iterate
from ._control_nested import batch_size, compile_nested, written_names
from .base import Built, LayerKind


def _size_one(layer, tensor, what: str) -> None:
    if tensor.size() != 1:
        raise ShapeError(f"{where(layer)}: {what} must be a scalar; got shape {list(tensor.shape)}")


def _check(layer) -> bool:
    """Refuse what Core ML's validator refuses; whether the loop has a condition network
    (coremltools' builder writes an empty one for a for loop: empty is absent)."""
    params = layer.loop
    if len(layer.input) > 1 or layer.output:
        raise ShapeError(
            f"{where(layer)}: takes 0 or 1 input and no outputs; got "
            f"{len(layer.input)} inputs, {len(layer.output)} outputs"
        )
    has_condition = len(params.conditionNetwork.layers) > 0
    if not params.bodyNetwork.layers:
        raise ShapeError(f"{where(layer)}: has an empty body network")
    if has_condition != bool(params.conditionVar):
        raise ShapeError(
            f"{where(layer)}: conditionVar must name a blob exactly when there is "
            "a condition network"
        )
    if not has_condition and not params.maxLoopIterations and not layer.input:
        raise ShapeError(
            f"{where(layer)}: has no input, no condition network and "
            "maxLoopIterations 0, so nothing bounds it"
        )
    return has_condition


def build(layer, scope) -> Built:
    params = layer.loop
    has_condition = _check(layer)
    for name in layer.input:
        _size_one(layer, scope.tensors[name], "the iteration count input")
    networks = [params.conditionNetwork] if has_condition else []
    written = [n for net in (*networks, params.bodyNetwork) for n in written_names(net)]
    keep = {name: scope.tensors[name] for name in written if name in scope.tensors}
    inner, condition = scope, None
    if has_condition:
        inner = scope.nested(carried=set(written), in_loop=False)
        condition = compile_nested(inner, params.conditionNetwork, layer, keep)
        if params.conditionVar not in condition.writes:
            raise ShapeError(
                f"{where(layer)}: its conditionNetwork makes no blob "
                f"'{params.conditionVar}' (conditionVar)"
            )
        _size_one(layer, inner.tensors[params.conditionVar], "conditionVar")
    body_scope = inner.nested(carried=set(written), in_loop=True)
    entry = {name: body_scope.tensors[name] for name in written if name in body_scope.tensors}
    body = compile_nested(body_scope, params.bodyNetwork, layer, entry)
    made_first = condition.writes if condition else ()
    reads = [
        *layer.input,
        *(condition.reads if condition else ()),
        *(n for n in body.reads if n not in made_first),
        *keep,
    ]
    inputs = tuple(dict.fromkeys(reads))
    # visible after the loop (as Core ML's validator scopes them): with a condition network,
    # its blobs and the body's overwrites of earlier blobs; without, every blob of the body
    visible = [n for n in body.writes if n in entry] if has_condition else list(body.writes)
    outputs = tuple(dict.fromkeys([*made_first, *visible]))
    tensors = {**{n: scope.tensors[n] for n in inputs}, **{n: body.tensors[n] for n in outputs}}
    fresh = tuple((n, tensors[n].fold, tensors[n].row_shape) for n in outputs if n not in entry)
    limit = int(params.maxLoopIterations) if not has_condition or params.maxLoopIterations else None
    attrs = LoopAttrs(
        condition.steps if condition else None,
        body.steps,
        params.conditionVar or None,
        limit,
        bool(layer.input),
        inputs,
        outputs,
        {name: tensor.fold for name, tensor in tensors.items()},
        fresh,
    )
    return Built(attrs, {}, [tensors[n] for n in outputs], inputs=inputs, outputs=outputs)


def forward(attrs: LoopAttrs, params, xs, keep=False, out=None):
    """Run the loop (module docstring) on the batch; the outputs are the blobs' final values."""
    del params, keep, out
    batch = batch_size(xs, tuple(attrs.folds[n] for n in attrs.inputs))
    blobs = dict(zip(attrs.inputs, xs, strict=True))
    dtype = xs[0].dtype if xs else np.dtype(np.float32)
    for name, rows, shape in attrs.fresh:
        blobs[name] = np.zeros((batch * rows, *shape), dtype)
    if attrs.counted_by_input:
        counts = np.nan_to_num(xs[0].reshape(batch, -1)[:, 0].astype(np.float64))
        limits = np.maximum(np.floor(counts), 0)
    elif attrs.limit is not None:
        limits = np.full(batch, attrs.limit)
    else:
        limits = None
    iterate(attrs, blobs, batch, limits, 0)
    return [blobs[name] for name in attrs.outputs], None


KIND = LayerKind("loop", build, forward, scoped=True)
