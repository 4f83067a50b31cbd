"""Runtime, training layer: the training slice of a network: forward with caches, loss, backward,
parameter gradients.

A network being updated splits into two parts (docs/ARCHITECTURE.md, "Training"):

* the **frozen part**: every step the loss depends on whose output does not depend on an
  updatable layer. It is a pure function of the model inputs, so it runs forward only, and
  its outputs at the boundary may be cached by content (training jobs do);
* the **trainable slice**: the updatable layers and every step between them and the loss.
  These run forward keeping caches, then backward in reverse order. Only they compute
  gradients, and only updatable layers compute parameter gradients; frozen layers below the
  first updatable layer never run backward.

For a cross-entropy loss the softmax that produces the loss input is not run: the loss is
evaluated from the softmax's input, whose gradient is ``(p - onehot) / N`` (see
``runtime.training.losses``); Core ML's validator exempts exactly this softmax from its backprop
rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from runtime.kernels import parallel
from runtime.nn import execution
from runtime.nn.layers.base import Step
from runtime.training import interrupt
from runtime.training.losses import LOSSES
from updatable.errors import UnsupportedLayerError

# The frozen part runs in chunks of this many examples: its memory stays that of one chunk
# whatever the mini-batch size, and a cancel is seen between chunks. Every frozen layer treats
# examples independently (runtime.kernels.parallel), so the result is the same bit for bit.
FROZEN_CHUNK = 256


@dataclass(frozen=True)
class TrainingSlice:
    frozen_steps: tuple[Step, ...]
    train_steps: tuple[Step, ...]
    boundary: tuple[str, ...]  # blobs the slice reads from the frozen part or model inputs
    updatable: frozenset[str]  # names of steps whose parameters train
    loss_kind: str  # "categoricalCrossEntropyLossLayer" | "meanSquaredErrorLossLayer"
    loss_blob: str  # the blob the loss reads (CCE: the softmax's input)
    # execution plans of the frozen steps, by (fed blob names, defer); see frozen_forward
    plans: dict = field(default_factory=dict, compare=False, repr=False)


def _producers(steps) -> dict[str, int]:
    produced = {}
    for index, step in enumerate(steps):
        for blob in step.outputs:
            produced[blob] = index  # Core ML links each input to the last earlier producer
    return produced


def _ancestors(steps, last: int) -> set[int]:
    """Positions of step ``last`` and every step it depends on, walking producers backwards:
    each input links to its last producer *before* the reader (a loop both reads and
    overwrites the blobs it carries; their first values come from earlier steps)."""
    writers: dict[str, list[int]] = {}
    for index, step in enumerate(steps):
        for blob in step.outputs:
            writers.setdefault(blob, []).append(index)
    ancestors: set[int] = set()
    pending = [last]
    while pending:
        index = pending.pop()
        if index in ancestors:
            continue
        ancestors.add(index)
        for blob in steps[index].inputs:
            earlier = [i for i in writers.get(blob, ()) if i < index]
            if earlier:
                pending.append(earlier[-1])
    return ancestors


def build_slice(steps: list[Step], updatable_names, loss_layer) -> TrainingSlice:
    """Cut ``steps`` for training with ``loss_layer`` (a ``LossLayer`` protobuf)."""
    loss_kind = loss_layer.WhichOneof("LossLayerType")
    loss = getattr(loss_layer, loss_kind)
    produced = _producers(steps)
    loss_blob = loss.input
    if loss_kind == "categoricalCrossEntropyLossLayer":
        softmax = steps[produced[loss_blob]]
        if softmax.kind.oneof != "softmax":
            raise UnsupportedLayerError(
                f"cross-entropy loss '{loss_layer.name}' reads '{loss_blob}', produced by "
                f"'{softmax.name}' ({softmax.kind.oneof}); expected a softmax output"
            )
        loss_blob = softmax.inputs[0]
    if loss_blob not in produced:
        raise UnsupportedLayerError(
            f"loss '{loss_layer.name}' reads '{loss_blob}', which no layer produces"
        )

    ancestors = _ancestors(steps, produced[loss_blob])
    # Steps that depend on an updatable step (forward order: one pass suffices).
    trainable: set[int] = set()
    tainted: set[str] = set()
    for index in sorted(ancestors):
        step = steps[index]
        if step.name in updatable_names or any(blob in tainted for blob in step.inputs):
            trainable.add(index)
            tainted.update(step.outputs)
    if not any(steps[i].name in updatable_names for i in trainable):
        raise UnsupportedLayerError(
            f"no updatable layer lies on a path to the loss input '{loss_blob}'; updatable "
            f"layers: {sorted(updatable_names)}"
        )
    for index in sorted(trainable):
        step = steps[index]
        if step.kind.backward is None:
            raise UnsupportedLayerError(
                f"layer '{step.name}' ({step.kind.oneof}) lies between an updatable layer and "
                "the loss but does not support backpropagation"
            )
    frozen = sorted(ancestors - trainable)
    train = sorted(trainable)
    boundary = []
    for index in train:
        for blob in steps[index].inputs:
            if blob not in tainted and blob not in boundary:
                boundary.append(blob)
    return TrainingSlice(
        frozen_steps=tuple(steps[i] for i in frozen),
        train_steps=tuple(steps[i] for i in train),
        boundary=tuple(boundary),
        updatable=frozenset(steps[i].name for i in train if steps[i].name in updatable_names),
        loss_kind=loss_kind,
        loss_blob=loss_blob,
    )


def run_steps(steps, blobs: dict[str, np.ndarray], keep: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Forward ``steps`` over ``blobs``; returns the blobs named in ``keep`` (others are freed
    after their last use). One-off: :func:`frozen_forward` reuses its plan."""
    return execution.run(execution.make_plan(steps, keep), blobs)


def frozen_forward(
    cut: TrainingSlice, feeds: dict[str, np.ndarray], *, defer: bool = True
) -> dict[str, np.ndarray]:
    """The boundary blobs for a batch of model-input blobs.

    Runs the frozen steps through an execution plan kept on ``cut`` (``runtime.nn.execution``):
    batch-parallel, concat inputs written in place and, with ``defer``, convolution epilogues
    moved past max poolings (frozen steps never run backward, so nothing else sees that).
    The first batch also records the blob shapes that in-place concats need. Batches over
    :data:`FROZEN_CHUNK` examples run chunk by chunk, polling for a cancel in between.
    """
    count = next(iter(feeds.values())).shape[0] if feeds else 0
    if count <= FROZEN_CHUNK:
        return _frozen_forward(cut, feeds, defer)
    parts = []
    for start in range(0, count, FROZEN_CHUNK):
        interrupt.poll()
        chunk = {name: value[start : start + FROZEN_CHUNK] for name, value in feeds.items()}
        parts.append(_frozen_forward(cut, chunk, defer))
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def _frozen_forward(cut: TrainingSlice, feeds, defer: bool) -> dict[str, np.ndarray]:
    key = (tuple(sorted(feeds)), defer)
    plan = cut.plans.get(key)
    if plan is None:
        shapes: dict = {}
        first = execution.make_plan(cut.frozen_steps, cut.boundary, defer=defer)
        boundary = execution.run(first, feeds, shapes_seen=shapes)
        cut.plans[key] = execution.make_plan(
            cut.frozen_steps, cut.boundary, shapes=shapes, defer=defer
        )
        return boundary
    return execution.run(plan, feeds)


def loss_and_gradients(cut: TrainingSlice, boundary: dict[str, np.ndarray], target: np.ndarray):
    """Forward the slice, evaluate the loss, backpropagate.

    Returns ``(loss, grads, output)`` where ``grads`` maps ``"<layer>/<param>"`` to the
    gradient of the mean batch loss and ``output`` is the loss input (logits for CCE).
    """
    with parallel.serial_blas():  # see runtime.kernels.parallel: keeps BLAS's threads asleep
        return _loss_and_gradients(cut, boundary, target)


def _loss_and_gradients(cut: TrainingSlice, boundary: dict[str, np.ndarray], target):
    blobs = dict(boundary)
    caches = []
    for step in cut.train_steps:
        interrupt.poll()
        ys, cache = step.kind.forward(
            step.attrs, step.params, [blobs[b] for b in step.inputs], True
        )
        blobs.update(zip(step.outputs, ys, strict=True))
        caches.append(cache)
    output = blobs[cut.loss_blob]
    n = output.shape[0]
    loss, d_output = LOSSES[cut.loss_kind](output.reshape(n, -1), target)
    blob_grads = {cut.loss_blob: d_output.reshape(output.shape)}
    produced_in_slice = {blob for step in cut.train_steps for blob in step.outputs}
    grads: dict[str, np.ndarray] = {}
    for step, cache in zip(reversed(cut.train_steps), reversed(caches), strict=True):
        dys = [blob_grads.pop(blob, None) for blob in step.outputs]
        if all(dy is None for dy in dys):
            continue  # this step's outputs do not reach the loss
        interrupt.poll()
        dys = [
            np.zeros_like(blobs[b]) if dy is None else dy
            for b, dy in zip(step.outputs, dys, strict=True)
        ]
        wants_inputs = any(blob in produced_in_slice for blob in step.inputs)
        assert step.kind.backward is not None, f"{step.name} is trained, so it has a backward"
        dxs, dparams = step.kind.backward(
            step.attrs,
            step.params,
            cache,
            dys,
            input_grads=wants_inputs,
            param_grads=step.name in cut.updatable,
        )
        for blob, dx in zip(step.inputs, dxs, strict=True):
            if dx is None or blob not in produced_in_slice:
                continue
            previous = blob_grads.get(blob)
            blob_grads[blob] = dx if previous is None else previous + dx
        if step.name in cut.updatable:
            for key, value in dparams.items():
                grads[f"{step.name}/{key}"] = value
    return loss, grads, output


def trainable_params(cut: TrainingSlice) -> dict[str, np.ndarray]:
    """The current parameters of the updatable steps as a flat ``"<layer>/<param>"`` dict."""
    return {
        f"{step.name}/{key}": value
        for step in cut.train_steps
        if step.name in cut.updatable
        for key, value in step.params.items()
    }


def assign_params(cut: TrainingSlice, flat: dict[str, np.ndarray]) -> None:
    """Install new parameter arrays into the updatable steps (replacing, never mutating)."""
    for step in cut.train_steps:
        if step.name in cut.updatable:
            step.params = {key: flat[f"{step.name}/{key}"] for key in step.params}
