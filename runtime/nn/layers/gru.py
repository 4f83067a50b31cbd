"""Runtime, neural-network layer: Core ML ``gru``: a gated recurrent unit.

``GRULayerParams`` (NeuralNetwork.proto), per step::

    z_t = f(clip(W_z x_t + R_z y_{t-1} + b_z))        update gate
    r_t = f(clip(W_r x_t + R_r y_{t-1} + b_r))        reset gate
    c_t = y_{t-1} * r_t
    o_t = g(clip(W_o x_t + R_o c_t + b_o))            output gate
    y_t = (1 - z_t) * o_t + z_t * y_{t-1}

The reset gate scales the state *before* the recursion matrix (Keras' ``reset_after=False``
GRU; PyTorch's ``nn.GRU`` resets after it, which is why coremltools converts that one to a
loop of other layers). ``W`` ``[H, inputVectorSize]`` and ``R`` ``[H, H]`` row-major, biases
only with ``hasBiasVectors``, ``clip`` to ``[-50, 50]``, activations ``[f, g]``
(``_sequence_activations``; Keras' hard sigmoid arrives as ``sigmoidHard`` with unset
parameters, i.e. ``0.2 x + 0.5``).

Inputs: ``x`` ``[Seq, Batch, inputVectorSize, 1, 1]`` and optionally ``y_0`` (``Batch *
H`` values, zeros when not listed). Outputs: every step's output ``[Seq, Batch, H, 1, 1]``
with ``sequenceOutput`` (else the last) and the final ``y``. ``reverseInput`` reads
``x_Seq`` first and lists the outputs in the order they are made (see
``uniDirectionalLSTM``). No backward: Core ML does not backpropagate through this layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runtime.kernels.matmul import matmul

from ._sequence_activations import Recurrent, clipped, recurrent_list
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

GATES = ("updateGate", "resetGate", "outputGate")  # GRULayerParams field prefixes


@dataclass(frozen=True)
class GRUAttrs:
    hidden: int
    f: Recurrent
    g: Recurrent
    sequence_output: bool
    reverse: bool


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    p = layer.gru
    check_counts(layer, in_shapes, 1, 2, 2)
    size, hidden = int(p.inputVectorSize), int(p.outputVectorSize)
    seq, batch = sequence_shape(layer, in_shapes[0], size)
    if len(in_shapes) > 1:
        check_state(layer, in_shapes[1], batch, hidden, "the initial output y_0")
    f, g = recurrent_list(layer, p.activations, 2, "activations")

    def read(kind, cols):
        return [
            matrix(layer, f"{gate}{kind}", getattr(p, f"{gate}{kind}"), hidden, cols)
            for gate in GATES
        ]

    recursion = read("RecursionMatrix", hidden)
    params = {
        "W": np.concatenate(read("WeightMatrix", size), axis=1),  # (D, 3H): z, r, o
        "R_zr": np.concatenate(recursion[:2], axis=1),  # (H, 2H)
        "R_o": recursion[2],  # (H, H)
    }
    if p.hasBiasVectors:
        params["b"] = np.concatenate(
            [
                vector(layer, f"{gate}BiasVector", getattr(p, f"{gate}BiasVector"), hidden)
                for gate in GATES
            ]
        )
    attrs = GRUAttrs(hidden, f, g, bool(p.sequenceOutput), bool(p.reverseInput))
    out = (seq if p.sequenceOutput else 1, batch, hidden, 1, 1)
    return Built(
        attrs,
        {k: np.ascontiguousarray(v) for k, v in params.items()},
        [out, (1, batch, hidden, 1, 1)],
    )


def forward(attrs: GRUAttrs, params, xs, keep=False, out=None):
    """Every step's output (or the last) and the final output."""
    del keep, out
    n, x = xs[0].shape[0], to_steps(xs[0])
    if attrs.reverse:
        x = x[::-1]
    seq, rows, _ = x.shape
    h, dtype = attrs.hidden, x.dtype
    projected = matmul(x.reshape(seq * rows, -1), params["W"].astype(dtype, copy=False))
    if "b" in params:
        projected += params["b"].astype(dtype, copy=False)
    projected = projected.reshape(seq, rows, 3 * h)
    r_zr, r_o = (params[k].astype(dtype, copy=False) for k in ("R_zr", "R_o"))
    y = state_rows(xs, 1, rows, h, dtype)
    ys = np.empty((seq, rows, h), dtype)
    for t in range(seq):
        gates, _ = clipped(projected[t, :, : 2 * h] + matmul(y, r_zr))
        gates = attrs.f(gates)
        z, r = gates[:, :h], gates[:, h:]
        pre_o, _ = clipped(projected[t, :, 2 * h :] + matmul(y * r, r_o))
        y = ys[t] = (1 - z) * attrs.g(pre_o) + z * y
    sequence = ys if attrs.sequence_output else ys[-1:]
    return [from_steps(sequence, n), state_blob(y, n)], None


KIND = LayerKind("gru", build, forward, layouts=(ND,))
