"""Runtime, neural-network layer: Core ML ``biDirectionalLSTM``: two LSTMs over a sequence, one
reading it forwards and one backwards, outputs concatenated.

``BiDirectionalLSTMLayerParams`` (NeuralNetwork.proto): the LSTM equations of ``LSTMParams``
(``runtime.nn.layers._sequence_lstm``; the same ``params`` for both), ``weightParams[0]`` for
the forward LSTM and ``weightParams[1]`` for the backward one, activations
``activationsForwardLSTM`` / ``activationsBackwardLSTM`` (3 each).

For ``x_1 .. x_T`` the forward LSTM makes ``yf_t`` after ``x_1 .. x_t`` and the backward one
``yb_t`` after ``x_T .. x_t`` (the proto's ``yb_{T+1-t}``: the backward output that has just
read ``x_t``). Outputs, in the proto's order:

* ``[yf_t, yb_t]`` for every ``t``: ``[Seq, Batch, 2H, 1, 1]`` with ``sequenceOutput``, else
  ``[yf_T, yb_1]`` (both final outputs), ``[1, Batch, 2H, 1, 1]``;
* the final ``y`` and ``c`` of the forward LSTM, then of the backward one, ``[1, Batch, H,
  1, 1]`` each.

Inputs: ``x`` ``[Seq, Batch, inputVectorSize, 1, 1]``, then optionally the initial ``y``,
``c`` of the forward LSTM and ``y``, ``c`` of the backward one (``Batch * H`` values each;
zeros when not listed). No backward: Core ML does not backpropagate through this layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from updatable.errors import ShapeError

from . import _sequence_lstm as lstm
from ._common import where
from ._sequence_activations import recurrent_list
from ._sequence_tensors import (
    check_counts,
    check_state,
    from_steps,
    sequence_shape,
    state_blob,
    state_rows,
    to_steps,
)
from .base import ND, Built, CoreMLShape, LayerKind

STATES = (
    "the forward initial output",
    "the forward initial cell",
    "the backward initial output",
    "the backward initial cell",
)


@dataclass(frozen=True)
class BiLSTMAttrs:
    forward: lstm.LSTMConfig
    backward: lstm.LSTMConfig
    sequence_output: bool


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    p = layer.biDirectionalLSTM
    check_counts(layer, in_shapes, 1, 5, 5)
    size, hidden = int(p.inputVectorSize), int(p.outputVectorSize)
    seq, batch = sequence_shape(layer, in_shapes[0], size)
    for shape, what in zip(in_shapes[1:], STATES, strict=False):
        check_state(layer, shape, batch, hidden, what)
    if len(p.weightParams) != 2:
        raise ShapeError(
            f"{where(layer)}: weightParams lists {len(p.weightParams)} LSTMWeightParams; "
            "expected 2 (forward, backward)"
        )
    configs: list[lstm.LSTMConfig] = []
    params: dict[str, Any] = {}
    for direction, activations, suffix in (
        ("forward", p.activationsForwardLSTM, ""),
        ("backward", p.activationsBackwardLSTM, "_rev"),
    ):
        parsed = recurrent_list(layer, activations, 3, f"activations{direction.title()}LSTM")
        cfg = lstm.config(p.params, parsed, hidden)
        loaded = lstm.load(
            layer, p.weightParams[len(configs)], cfg, size, f"weightParams[{len(configs)}]."
        )
        params.update({key + suffix: value for key, value in loaded.items()})
        configs.append(cfg)
    state = (1, batch, hidden, 1, 1)
    out = (seq if p.params.sequenceOutput else 1, batch, 2 * hidden, 1, 1)
    attrs = BiLSTMAttrs(configs[0], configs[1], bool(p.params.sequenceOutput))
    return Built(attrs, params, [out, state, state, state, state])


def forward(attrs: BiLSTMAttrs, params, xs, keep=False, out=None):
    """``[yf_t, yb_t]`` (or the final pair), then both directions' final ``y`` and ``c``."""
    del keep, out
    n, x = xs[0].shape[0], to_steps(xs[0])
    rows, h = x.shape[1], attrs.forward.hidden

    def run(cfg, suffix, steps, first_state):
        state = (
            state_rows(xs, first_state, rows, h, x.dtype),
            state_rows(xs, first_state + 1, rows, h, x.dtype),
        )
        own = {
            key[: -len(suffix)] if suffix else key: value
            for key, value in params.items()
            if key.endswith("_rev") == bool(suffix)
        }
        ys, y_last, c_last, _ = lstm.forward(cfg, own, steps, state)
        return ys, y_last, c_last

    yf, yf_last, cf_last = run(attrs.forward, "", x, 1)
    yb, yb_last, cb_last = run(attrs.backward, "_rev", x[::-1], 3)
    yb = yb[::-1]  # yb[t]: the backward output that has just read x_t
    if attrs.sequence_output:
        joined = np.concatenate([yf, yb], axis=2)
    else:
        joined = np.concatenate([yf_last, yb_last], axis=1)[None]
    finals = [state_blob(s, n) for s in (yf_last, cf_last, yb_last, cb_last)]
    return [from_steps(joined, n), *finals], None


KIND = LayerKind("biDirectionalLSTM", build, forward, layouts=(ND,))
