"""Runtime, neural-network layer: Core ML ``simpleRecurrent``: an Elman recurrent layer.

``SimpleRecurrentLayerParams`` (NeuralNetwork.proto)::

    y_t = f(clip(W x_t + R y_{t-1} + b))

``W`` ``[outputVectorSize, inputVectorSize]`` and ``R`` ``[outputVectorSize,
outputVectorSize]`` row-major, ``b`` only with ``hasBiasVector``, ``clip`` to ``[-50, 50]``,
``f`` one of the recurrent activations (``_sequence_activations``).

Inputs: ``x`` ``[Seq, Batch, inputVectorSize, 1, 1]`` and ``y_0`` (``Batch *
outputVectorSize`` values; Core ML's validator requires both inputs). Outputs: the outputs of
every step ``[Seq, Batch, H, 1, 1]`` with ``sequenceOutput`` (else the last, ``[1, Batch, H,
1, 1]``) and the final ``y``, ``[1, Batch, H, 1, 1]``. ``reverseInput`` reads ``x_Seq``
first and lists the outputs in the order they are made (see ``uniDirectionalLSTM``).

No backward: Core ML does not backpropagate through this layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runtime.kernels.matmul import matmul

from ._sequence_activations import Recurrent, clipped, recurrent
from ._sequence_tensors import (
    check_counts,
    check_state,
    from_steps,
    matrix,
    sequence_shape,
    state_blob,
    state_rows,
    to_steps,
    vector,
)
from .base import ND, Built, CoreMLShape, LayerKind


@dataclass(frozen=True)
class SimpleRecurrentAttrs:
    hidden: int
    f: Recurrent
    sequence_output: bool
    reverse: bool


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    p = layer.simpleRecurrent
    check_counts(layer, in_shapes, 2, 2, 2)
    size, hidden = int(p.inputVectorSize), int(p.outputVectorSize)
    seq, batch = sequence_shape(layer, in_shapes[0], size)
    check_state(layer, in_shapes[1], batch, hidden, "the initial output y_0")
    params = {
        "W": matrix(layer, "weightMatrix", p.weightMatrix, hidden, size),
        "R": matrix(layer, "recursionMatrix", p.recursionMatrix, hidden, hidden),
    }
    if p.hasBiasVector:
        params["b"] = vector(layer, "biasVector", p.biasVector, hidden)
    attrs = SimpleRecurrentAttrs(
        hidden, recurrent(layer, p.activation), bool(p.sequenceOutput), bool(p.reverseInput)
    )
    out = (seq if p.sequenceOutput else 1, batch, hidden, 1, 1)
    return Built(
        attrs,
        {k: np.ascontiguousarray(v) for k, v in params.items()},
        [out, (1, batch, hidden, 1, 1)],
    )


def forward(attrs: SimpleRecurrentAttrs, params, xs, keep=False, out=None):
    """Every step's output (or the last) and the final output."""
    del keep, out
    n, x = xs[0].shape[0], to_steps(xs[0])
    if attrs.reverse:
        x = x[::-1]
    seq, rows, _ = x.shape
    dtype = x.dtype
    projected = matmul(x.reshape(seq * rows, -1), params["W"].astype(dtype, copy=False))
    if "b" in params:
        projected += params["b"].astype(dtype, copy=False)
    projected = projected.reshape(seq, rows, attrs.hidden)
    recursion = params["R"].astype(dtype, copy=False)
    y = state_rows(xs, 1, rows, attrs.hidden, dtype)
    ys = np.empty((seq, rows, attrs.hidden), dtype)
    for t in range(seq):
        pre, _ = clipped(projected[t] + matmul(y, recursion))
        y = ys[t] = attrs.f(pre)
    sequence = ys if attrs.sequence_output else ys[-1:]
    return [from_steps(sequence, n), state_blob(y, n)], None


KIND = LayerKind("simpleRecurrent", build, forward, layouts=(ND,))
