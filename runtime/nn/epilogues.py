"""Runtime, neural-network layer: deferred epilogues: a convolution's bias and activation applied
after a following max pool.

For a per-channel bias ``b`` and a non-decreasing activation ``f``, over any pooling window

    max_i f(z_i + b) = f(max_i z_i + b)

holds exactly, in floating point too (rounding is monotonic). So a convolution whose output
only feeds a MAX pooling may write its bare GEMM output, and the pooling applies the bias and
activation to its own output, about 4x smaller for SqueezeNet's 3x3 / 2 windows: one full
read-and-write pass over the convolution's output disappears. The same holds across a channel
concat whose inputs are all such convolutions with the same activation (SqueezeNet's fire3 ->
pool3 and fire5 -> pool5): the expand convolutions write bare outputs into the concat buffer
and the pooling applies the concatenated biases. Windows with no input pixel stay 0, as the
plain pooling makes them.

Non-decreasing activations (``ActivationParams``): ReLU, sigmoid, tanh, and leakyReLU / PReLU /
linear with ``alpha >= 0``, with one parameter value for every channel; no activation at all
qualifies too (the bias alone is deferred).

Scope: rewrites exist only inside forward-only execution plans (``runtime.nn.execution``):
inference, and the frozen part of a training step. Steps are never changed, so the training
slice, which runs forward with caches and backward through the steps' own attributes, never
sees one; a frozen step never runs backward. Every run reads the bias from the convolution's
current parameters, so weights replaced after compilation (load-time parameters) apply. A blob
that is wanted, fed, or read by any other step keeps its full value.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from runtime.nn.dataflow import readers_of, writers_of

NON_DECREASING = ("ReLU", "sigmoid", "tanh")
NON_DECREASING_FOR_ALPHA_AT_LEAST_0 = ("leakyReLU", "PReLU", "linear")


def non_decreasing(activation) -> bool:
    """Whether a fused activation (``_fused.Activation`` or ``None``) commutes with max."""
    if activation is None:
        return True
    if len(activation.alpha) != 1 or len(activation.beta) != 1:
        return False  # per-channel parameters: not worth concatenating across producers
    if activation.name in NON_DECREASING:
        return True
    return activation.name in NON_DECREASING_FOR_ALPHA_AT_LEAST_0 and activation.alpha[0] >= 0


def _sole(table: dict, name: str) -> int | None:
    positions = table.get(name, ())
    return positions[0] if len(positions) == 1 else None


def _producers(steps, blob, readers, writers, private) -> list[tuple[int, int, int]] | None:
    """``[(convolution position, first channel, end channel)]`` making ``blob``, or ``None``."""
    writer = _sole(writers, blob)
    if writer is None or not private(blob):
        return None
    step = steps[writer]
    if step.kind.oneof == "convolution" and len(step.outputs) == 1:
        return [(writer, 0, -1)]
    if step.kind.oneof != "concat" or len(set(step.inputs)) != len(step.inputs):
        return None
    found = []
    offsets = step.attrs.offsets
    for position, name in enumerate(step.inputs):
        source = _sole(writers, name)
        if (
            source is None
            or not private(name)
            or steps[source].kind.oneof != "convolution"
            or len(steps[source].outputs) != 1
        ):
            return None
        found.append((source, offsets[position], offsets[position + 1]))
    return found


def rewrites(steps, wanted, inputs) -> dict:
    """Step position -> ``step -> (attrs, params)`` for every deferral ``steps`` allow."""
    readers, writers = readers_of(steps), writers_of(steps)
    kept = set(wanted) | set(inputs)

    def private(blob):  # read by exactly one step, and nobody else sees it
        return blob not in kept and len(readers.get(blob, ())) == 1

    plan = {}
    for index, pool in enumerate(steps):
        if pool.kind.oneof != "pooling" or pool.attrs.type != "MAX" or pool.attrs.epilogue:
            continue
        convs = _producers(steps, pool.inputs[0], readers, writers, private)
        if not convs:
            continue
        activations = {steps[position].attrs.fused for position, _, _ in convs}
        if len(activations) != 1 or not non_decreasing(next(iter(activations))):
            continue
        if any(steps[position].attrs.deconv for position, _, _ in convs):
            continue  # a deconvolution's crop and bias layout: not worth the special case
        activation = activations.pop()
        if activation is None and not any("b" in steps[p].params for p, _, _ in convs):
            continue  # nothing to move
        for position, _, _ in convs:
            plan[position] = _bare(steps[position])
        plan[index] = _pool_with_epilogue(pool, [steps[p] for p, _, _ in convs], activation)
    return plan


def _bare(conv):
    attrs = dataclasses.replace(conv.attrs, activation=None, fused=None)

    def rewrite(step):
        return attrs, {key: value for key, value in step.params.items() if key != "b"}

    return rewrite


def _pool_with_epilogue(pool, convs, activation):
    attrs = dataclasses.replace(pool.attrs, epilogue=True, activation=activation)

    def rewrite(step):
        del step
        parts = [conv.params.get("b") for conv in convs]  # current parameters, every run
        dtype = next((p.dtype for p in parts if p is not None), np.dtype(np.float32))
        bias = [
            np.zeros(conv.attrs.out_channels, dtype) if part is None else part
            for conv, part in zip(convs, parts, strict=True)
        ]
        return attrs, {"b": bias[0] if len(bias) == 1 else np.concatenate(bias)}

    return rewrite
