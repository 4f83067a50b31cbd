"""Runtime, neural-network layer: Core ML ``uniDirectionalLSTM``: an LSTM over a sequence.

``UniDirectionalLSTMLayerParams`` (NeuralNetwork.proto): ``(y_t, c_t) = LSTM(x_t, y_{t-1},
c_{t-1})`` with the equations of ``LSTMParams`` (``runtime.nn.layers._sequence_lstm``: gates
``i, f, z, o``, clip of every pre-activation to ``[-50, 50]``, peepholes, coupled input and
forget gate, ``cellClipThreshold``, ``forgetBias``) and activations ``[f, g, h]``
(``_sequence_activations``).

Inputs: ``x`` ``[Seq, Batch, inputVectorSize, 1, 1]`` and optionally ``y_0``, ``c_0``
(``Batch * outputVectorSize`` values each; zeros when not listed). Outputs: the output
sequence ``[Seq, Batch, H, 1, 1]`` with ``sequenceOutput`` (else the last output, ``[1,
Batch, H, 1, 1]``), then the final ``y`` and ``c``, ``[1, Batch, H, 1, 1]``.

``reverseInput``: the layer reads ``x_Seq`` first and its outputs come in the order it makes
them (the first is the output after ``x_Seq`` alone), as Keras' ``go_backwards`` does, which
the Keras converter maps to this flag, and as coremltools' tests of its reverse LSTM expect.

Backward: Core ML backpropagates through this layer (``isLayerSupportedForBackprop``) and its
validator lets it be updatable (without weight checks), so backward gives the input and
initial-state gradients and, for an updatable layer, the gradients of ``W``, ``R``, ``b``
and ``p``. ``export`` / ``import_`` map them to the ``weightParams`` fields.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _sequence_lstm as lstm
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

FIELD = "weightParams"  # export keys are "weightParams.<LSTMWeightParams field>"


@dataclass(frozen=True)
class LSTMAttrs:
    lstm: lstm.LSTMConfig
    sequence_output: bool
    reverse: bool
    in_shapes: tuple[CoreMLShape, ...]


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    p = layer.uniDirectionalLSTM
    check_counts(layer, in_shapes, 1, 3, 3)
    size, hidden = int(p.inputVectorSize), int(p.outputVectorSize)
    seq, batch = sequence_shape(layer, in_shapes[0], size)
    for shape, what in zip(
        in_shapes[1:], ("the initial output y_0", "the initial cell c_0"), strict=False
    ):
        check_state(layer, shape, batch, hidden, what)
    activations = recurrent_list(layer, p.activations, 3, "activations")
    cfg = lstm.config(p.params, activations, hidden)
    params = lstm.load(layer, p.weightParams, cfg, size)
    state = (1, batch, hidden, 1, 1)
    out = (seq if p.params.sequenceOutput else 1, batch, hidden, 1, 1)
    attrs = LSTMAttrs(
        cfg, bool(p.params.sequenceOutput), bool(p.reverseInput), tuple(tuple(s) for s in in_shapes)
    )
    return Built(attrs, params, [out, state, state])


def forward(attrs: LSTMAttrs, params, xs, keep=False, out=None):
    """The outputs, final ``y`` and final ``c`` (module docstring)."""
    del out
    n, x = xs[0].shape[0], to_steps(xs[0])
    if attrs.reverse:
        x = x[::-1]
    rows, h = x.shape[1], attrs.lstm.hidden
    state = (state_rows(xs, 1, rows, h, x.dtype), state_rows(xs, 2, rows, h, x.dtype))
    ys, y_last, c_last, record = lstm.forward(attrs.lstm, params, x, state, keep)
    sequence = ys if attrs.sequence_output else ys[-1:]
    outputs = [from_steps(sequence, n), state_blob(y_last, n), state_blob(c_last, n)]
    return outputs, ((n, record) if keep else None)


def backward(attrs: LSTMAttrs, params, cache, dys, *, input_grads=True, param_grads=True):
    """Backpropagation through time; the gradients of ``x``, ``y_0`` and ``c_0``."""
    n, record = cache
    seq, rows, h = record.hc.shape
    d_steps = np.zeros((seq, rows, h), record.hc.dtype)
    if dys[0] is not None:
        d_out = to_steps(dys[0])
        d_steps[seq - len(d_out) :] = d_out
    final = [None if d is None else to_steps(d)[0] for d in dys[1:]]
    dx, dy0, dc0, grads = lstm.backward(attrs.lstm, params, record, d_steps, final, param_grads)
    if not input_grads:
        return [None] * len(attrs.in_shapes), grads
    if attrs.reverse:
        dx = dx[::-1]
    dxs = [from_steps(np.ascontiguousarray(dx), n).reshape(n, *attrs.in_shapes[0])]
    for d_state, shape in zip((dy0, dc0), attrs.in_shapes[1:], strict=False):
        dxs.append(d_state.reshape(n, *shape))
    return dxs, grads


def export(attrs: LSTMAttrs, params) -> dict[str, np.ndarray]:
    """Runtime parameters -> ``{"weightParams.<field>": Core ML array}``."""
    return {f"{FIELD}.{k}": v for k, v in lstm.export(params, attrs.lstm).items()}


def import_(attrs: LSTMAttrs, arrays) -> dict[str, np.ndarray]:
    """The inverse of :func:`export`: every ``weightParams.<field>`` the layer has, in Core ML
    layout (``ParameterError`` for a missing or unknown key: an LSTM has no single
    ``weights`` or ``bias``)."""
    fields = {k.removeprefix(f"{FIELD}."): v for k, v in arrays.items()}
    return lstm.load_arrays(fields, attrs.lstm, attrs.in_shapes[0][2])


KIND = LayerKind(
    "uniDirectionalLSTM", build, forward, backward, export=export, import_=import_, layouts=(ND,)
)
