"""Runtime, neural-network layer: one direction of an LSTM, forward and backward through time,
shared by uniDirectionalLSTM and biDirectionalLSTM.

``LSTMParams`` / ``LSTMWeightParams`` (NeuralNetwork.proto), per step ``t``::

    i_t = f(clip(W_i x_t + R_i y_{t-1} + p_i * c_{t-1} + b_i))      input gate
    f_t = f(clip(W_f x_t + R_f y_{t-1} + p_f * c_{t-1} + b_f))      forget gate
    z_t = g(clip(W_z x_t + R_z y_{t-1} + b_z))                      block input
    c_t = c_{t-1} * f_t + i_t * z_t        (coupled: c_{t-1} * (1 - i_t) + i_t * z_t)
    c_t = min(max(c_t, -cellClipThreshold), cellClipThreshold)
    o_t = f(clip(W_o x_t + R_o y_{t-1} + p_o * c_t + b_o))          output gate
    y_t = h(c_t) * o_t

``clip`` bounds every pre-activation to ``[-50, 50]``; peepholes ``p`` only with
``hasPeepholeVectors``; biases only with ``hasBiasVectors``; ``forgetBias`` adds 1 to the
forget gate's pre-activation (read: with or without bias vectors, since the proto says "a
vector of 1 values is added to b_f" and ``b_f`` is 0 without them); ``cellClipThreshold`` 0
means 50. With ``coupledInputAndForgetGate`` the forget gate is not computed (its weights
are still read: Core ML's validator requires them).

Runtime parameters: ``W`` ``(D, 4H)`` and ``R`` ``(H, 4H)`` with the gates' columns in the
order ``i, f, z, o`` (so one product per step covers all four), ``b`` ``(4H,)``, ``p``
``(3, H)`` (``p_i, p_f, p_o``). ``b`` is the stored bias: ``forgetBias`` is applied in the
forward pass, so training and write-back see the model's own values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runtime.kernels.matmul import matmul
from updatable.errors import ParameterError

from ._sequence_activations import Recurrent, clipped
from ._sequence_tensors import matrix, vector

GATES = ("inputGate", "forgetGate", "blockInput", "outputGate")  # LSTMWeightParams prefixes
PEEPHOLES = ("inputGate", "forgetGate", "outputGate")


@dataclass(frozen=True)
class LSTMConfig:
    """The static parameters of one LSTM direction."""

    hidden: int
    f: Recurrent
    g: Recurrent
    h: Recurrent
    has_bias: bool
    forget_bias: bool
    peepholes: bool
    coupled: bool
    cell_clip: float


def config(params, activations, hidden: int) -> LSTMConfig:
    """An :class:`LSTMConfig` from ``LSTMParams`` and the three parsed activations."""
    threshold = float(params.cellClipThreshold) or 50.0
    f, g, h = activations
    return LSTMConfig(
        hidden,
        f,
        g,
        h,
        bool(params.hasBiasVectors),
        bool(params.forgetBias),
        bool(params.hasPeepholeVectors),
        bool(params.coupledInputAndForgetGate),
        threshold,
    )


def load(layer, weights, cfg: LSTMConfig, input_size: int, prefix: str = "") -> dict:
    """Runtime parameters (module docstring) from one ``LSTMWeightParams``."""
    h = cfg.hidden
    read = {
        "W": [
            matrix(
                layer,
                f"{prefix}{g}WeightMatrix",
                getattr(weights, f"{g}WeightMatrix"),
                h,
                input_size,
            )
            for g in GATES
        ],
        "R": [
            matrix(
                layer, f"{prefix}{g}RecursionMatrix", getattr(weights, f"{g}RecursionMatrix"), h, h
            )
            for g in GATES
        ],
    }
    params = {
        key: np.ascontiguousarray(np.concatenate(parts, axis=1)) for key, parts in read.items()
    }
    if cfg.has_bias:
        params["b"] = np.concatenate(
            [
                vector(layer, f"{prefix}{g}BiasVector", getattr(weights, f"{g}BiasVector"), h)
                for g in GATES
            ]
        )
    if cfg.peepholes:
        params["p"] = np.stack(
            [
                vector(
                    layer, f"{prefix}{g}PeepholeVector", getattr(weights, f"{g}PeepholeVector"), h
                )
                for g in PEEPHOLES
            ]
        )
    return params


def export(params: dict, cfg: LSTMConfig) -> dict[str, np.ndarray]:
    """``LSTMWeightParams`` field name -> Core ML layout array (row-major ``[H, D]``...)."""
    h, out = cfg.hidden, {}
    for index, gate in enumerate(GATES):
        columns = slice(index * h, (index + 1) * h)
        out[f"{gate}WeightMatrix"] = np.ascontiguousarray(params["W"][:, columns].T)
        out[f"{gate}RecursionMatrix"] = np.ascontiguousarray(params["R"][:, columns].T)
        if "b" in params:
            out[f"{gate}BiasVector"] = params["b"][columns].copy()
    for index, gate in enumerate(PEEPHOLES if "p" in params else ()):
        out[f"{gate}PeepholeVector"] = params["p"][index].copy()
    return out


def _bias(params: dict, cfg: LSTMConfig, dtype) -> np.ndarray | None:
    bias = params.get("b")
    if cfg.forget_bias:
        bias = np.zeros(4 * cfg.hidden, dtype) if bias is None else bias.astype(dtype, copy=True)
        bias[cfg.hidden : 2 * cfg.hidden] += 1
    return bias


def forward(cfg: LSTMConfig, params: dict, x: np.ndarray, state, keep: bool = False):
    """Run the steps of ``x`` ``(S, M, D)`` in order from ``state = (y_0, c_0)`` rows ``(M,
    H)``. Returns ``(ys (S, M, H), y_S, c_S, cache)``; ``cache`` is ``None`` without ``keep``.
    """
    seq, rows, _ = x.shape
    h, dtype = cfg.hidden, x.dtype
    projected = matmul(x.reshape(seq * rows, -1), params["W"].astype(dtype, copy=False))
    bias = _bias(params, cfg, dtype)
    if bias is not None:
        projected += bias
    projected = projected.reshape(seq, rows, 4 * h)
    recursion = params["R"].astype(dtype, copy=False)
    peep = params.get("p")
    y, c = state
    ys = np.empty((seq, rows, h), dtype)
    record = _Record(x, h, y, c) if keep else None
    for t in range(seq):
        pre = projected[t] + matmul(y, recursion)
        if peep is not None:
            pre[:, : 2 * h] += np.concatenate([peep[0] * c, peep[1] * c], axis=1)
        head, mask_head = clipped(pre[:, : 3 * h])
        i, z = cfg.f(head[:, :h]), cfg.g(head[:, 2 * h :])
        forget = 1 - i if cfg.coupled else cfg.f(head[:, h : 2 * h])
        c_raw = c * forget + i * z
        c, mask_c = clipped_cell(c_raw, cfg.cell_clip)
        pre_o = pre[:, 3 * h :] + (peep[2] * c if peep is not None else 0)
        pre_o, mask_o = clipped(pre_o)
        o, hc = cfg.f(pre_o), cfg.h(c)
        y = ys[t] = hc * o
        if record is not None:
            record.step(t, (i, forget, z, o), (mask_head, mask_o, mask_c), c, hc, y)
    return ys, y, c, record


def clipped_cell(c: np.ndarray, threshold: float):
    """``c`` bounded to ``[-threshold, threshold]`` and the mask where it was not clipped
    (``None`` when nothing was)."""
    outside = np.abs(c) > threshold
    if not outside.any():
        return c, None
    return np.clip(c, -threshold, threshold), ~outside


class _Record:
    """What backward needs of a forward run: gate outputs, cells, ``h(c)``, outputs, and the
    masks of the clips that bound something."""

    def __init__(self, x, h, y0, c0):
        seq, rows, _ = x.shape
        dtype = x.dtype
        self.x = x
        self.gates = np.empty((seq, rows, 4 * h), dtype)  # i, f (or 1 - i), z, o
        self.cells = np.empty((seq + 1, rows, h), dtype)  # c_0 .. c_S
        self.hc = np.empty((seq, rows, h), dtype)
        self.outputs = np.empty((seq + 1, rows, h), dtype)  # y_0 .. y_S
        self.cells[0], self.outputs[0] = c0, y0
        self.masks: dict[int, tuple] = {}  # step -> (head, o, cell) masks, when any clipped

    def step(self, t, gates, masks, c, hc, y):
        h = c.shape[1]
        for k, gate in enumerate(gates):
            self.gates[t, :, k * h : (k + 1) * h] = gate
        self.cells[t + 1], self.hc[t], self.outputs[t + 1] = c, hc, y
        if any(m is not None for m in masks):
            self.masks[t] = masks


def backward(
    cfg: LSTMConfig, params: dict, record: _Record, dys: np.ndarray, final, param_grads: bool = True
):
    """Backpropagation through time of :func:`forward`.

    ``dys`` ``(S, M, H)``: the loss gradient of every step's output ``y_t`` (zeros where
    nothing reads it); ``final = (dy_S, dc_S)``: of the final state (either may be ``None``).
    Returns ``(dx (S, M, D), dy_0, dc_0, dparams)``, ``dparams`` keyed like ``params`` (empty
    without ``param_grads``).
    """
    seq, rows, h = dys.shape
    dtype = dys.dtype
    recursion_t = np.ascontiguousarray(params["R"].astype(dtype, copy=False).T)
    peep = params.get("p")
    d_pre = np.empty((seq, rows, 4 * h), dtype)
    dy_next = np.zeros((rows, h), dtype) if final[0] is None else final[0].astype(dtype)
    dc_next = np.zeros((rows, h), dtype) if final[1] is None else final[1].astype(dtype)
    for t in range(seq - 1, -1, -1):
        dy = dys[t] + dy_next
        dc_next = _step_back(cfg, record, t, dy, dc_next, d_pre[t], peep)
        dy_next = matmul(d_pre[t], recursion_t)
    flat = d_pre.reshape(seq * rows, 4 * h)
    dx = matmul(flat, np.ascontiguousarray(params["W"].astype(dtype, copy=False).T))
    grads = _param_grads(record, flat, d_pre, params) if param_grads else {}
    return dx.reshape(seq, rows, -1), dy_next, dc_next, grads


def _step_back(cfg: LSTMConfig, record: _Record, t: int, dy, dc, d_pre, peep):
    """One step of :func:`backward`: fills ``d_pre`` ``(M, 4H)`` with the gradient of the
    four clipped pre-activations and returns the gradient of ``c_{t-1}``."""
    h = dy.shape[1]
    gates = record.gates[t]
    i, forget, z, o = (gates[:, k * h : (k + 1) * h] for k in range(4))
    c_prev, hc = record.cells[t], record.hc[t]
    mask_head, mask_o, mask_c = record.masks.get(t, (None, None, None))
    d_o = dy * hc * cfg.f.grad(o)
    if mask_o is not None:
        d_o = d_o * mask_o
    dc = dc + dy * o * cfg.h.grad(hc)
    if peep is not None:
        dc = dc + d_o * peep[2]
    if mask_c is not None:
        dc = dc * mask_c
    d_i = dc * (z - c_prev if cfg.coupled else z) * cfg.f.grad(i)
    d_f = np.zeros_like(dc) if cfg.coupled else dc * c_prev * cfg.f.grad(forget)
    d_z = dc * i * cfg.g.grad(z)
    d_pre[:, :h], d_pre[:, h : 2 * h], d_pre[:, 2 * h : 3 * h], d_pre[:, 3 * h :] = (
        d_i,
        d_f,
        d_z,
        d_o,
    )
    if mask_head is not None:
        d_pre[:, : 3 * h] *= mask_head
    dc_prev = dc * forget
    if peep is not None:
        dc_prev = dc_prev + d_pre[:, :h] * peep[0] + d_pre[:, h : 2 * h] * peep[1]
    return dc_prev


def _param_grads(record: _Record, flat: np.ndarray, d_pre: np.ndarray, params: dict) -> dict:
    seq, rows, four_h = d_pre.shape
    h = four_h // 4
    x = record.x.reshape(seq * rows, -1)
    previous = record.outputs[:-1].reshape(seq * rows, h)
    grads = {"W": matmul(x.T, flat), "R": matmul(previous.T, flat)}
    if "b" in params:
        grads["b"] = flat.sum(axis=0)
    if "p" in params:
        grads["p"] = np.stack(
            [
                (d_pre[:, :, :h] * record.cells[:-1]).sum(axis=(0, 1)),
                (d_pre[:, :, h : 2 * h] * record.cells[:-1]).sum(axis=(0, 1)),
                (d_pre[:, :, 3 * h :] * record.cells[1:]).sum(axis=(0, 1)),
            ]
        )
    return {key: value.astype(params[key].dtype, copy=False) for key, value in grads.items()}


def load_arrays(fields: dict, cfg: LSTMConfig, input_size: int) -> dict:
    """The inverse of :func:`export`: runtime parameters from ``{field: Core ML array}``."""
    expected = set(export(_zeros(cfg, input_size), cfg))
    if set(fields) != expected:
        raise ParameterError(
            f"an LSTM's weights are the LSTMWeightParams fields {sorted(expected)}; got "
            f"{sorted(fields)}"
        )
    h = cfg.hidden

    def joined(kind, cols):
        return np.ascontiguousarray(
            np.concatenate(
                [np.asarray(fields[f"{g}{kind}"], np.float32).reshape(h, cols).T for g in GATES],
                axis=1,
            )
        )

    params = {"W": joined("WeightMatrix", input_size), "R": joined("RecursionMatrix", h)}
    if cfg.has_bias:
        params["b"] = np.concatenate(
            [np.asarray(fields[f"{g}BiasVector"], np.float32).reshape(h) for g in GATES]
        )
    if cfg.peepholes:
        params["p"] = np.stack(
            [np.asarray(fields[f"{g}PeepholeVector"], np.float32).reshape(h) for g in PEEPHOLES]
        )
    return params


def _zeros(cfg: LSTMConfig, input_size: int) -> dict:
    h = cfg.hidden
    params: dict[str, np.ndarray] = {
        "W": np.zeros((input_size, 4 * h)),
        "R": np.zeros((h, 4 * h)),
    }
    if cfg.has_bias:
        params["b"] = np.zeros(4 * h)
    if cfg.peepholes:
        params["p"] = np.zeros((3, h))
    return params
