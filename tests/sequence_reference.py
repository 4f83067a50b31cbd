"""Reference recurrent layers for the tests, written from NeuralNetwork.proto's equations one
sequence and one step at a time (``np.dot`` on vectors), independent of the runtime's
batched kernels; and the builder calls that write the same weights into a layer.

Weights are dicts of Core ML matrices: ``W[gate]`` ``[H, D]``, ``R[gate]`` ``[H, H]``,
``b[gate]`` ``[H]`` (``None`` without biases), ``p[gate]`` ``[H]`` (peepholes).
"""

from __future__ import annotations

import numpy as np

ACTIVATIONS = {
    "LINEAR": lambda a: a,
    "SIGMOID": lambda a: 1 / (1 + np.exp(-a)),
    "TANH": np.tanh,
    "RELU": lambda a: np.maximum(a, 0),
    "SCALED_TANH": lambda a: 1.7159 * np.tanh(2 / 3 * a),
    "SIGMOID_HARD": lambda a: np.minimum(np.maximum(0.2 * a + 0.5, 0), 1),
}


def clip(a):
    return np.clip(a, -50, 50)


def gates(rng, names, hidden, inputs, scale=0.5, bias=True):
    """Random ``W``, ``R``, ``b`` for the gates ``names``."""
    return {
        "W": {g: rng.uniform(-scale, scale, (hidden, inputs)) for g in names},
        "R": {g: rng.uniform(-scale, scale, (hidden, hidden)) for g in names},
        "b": {g: rng.uniform(-scale, scale, hidden) for g in names} if bias else None,
    }


def _pre(w, gate, x, y):
    bias = 0 if w["b"] is None else w["b"][gate]
    return np.dot(w["W"][gate], x) + np.dot(w["R"][gate], y) + bias


def rnn(w, xs, y, f="TANH"):
    """``y_t = f(clip(W x_t + R y_{t-1} + b))`` over one sequence ``xs`` ``(S, D)``."""
    out = []
    for x in xs:
        y = ACTIVATIONS[f](clip(_pre(w, "h", x, y)))
        out.append(y)
    return np.array(out)


def gru(w, xs, y, f="SIGMOID", g="TANH"):
    """The proto's GRU (reset before the recursion matrix) over one sequence."""
    out = []
    for x in xs:
        z = ACTIVATIONS[f](clip(_pre(w, "z", x, y)))
        r = ACTIVATIONS[f](clip(_pre(w, "r", x, y)))
        bias = 0 if w["b"] is None else w["b"]["o"]
        o = ACTIVATIONS[g](clip(np.dot(w["W"]["o"], x) + np.dot(w["R"]["o"], y * r) + bias))
        y = (1 - z) * o + z * y
        out.append(y)
    return np.array(out)


def lstm(w, xs, y, c, options: dict):
    """The proto's LSTM over one sequence; ``options``: f, g, h, peep (dict or None),
    coupled, forget_bias, cell_clip. Returns ``(ys, c_last)``."""
    act = {
        k: ACTIVATIONS[options.get(k, d)]
        for k, d in (("f", "SIGMOID"), ("g", "TANH"), ("h", "TANH"))
    }
    peep = options.get("peep") or {"i": 0, "f": 0, "o": 0}
    threshold = options.get("cell_clip", 50.0)
    out = []
    for x in xs:
        i = act["f"](clip(_pre(w, "i", x, y) + peep["i"] * c))
        forget_pre = _pre(w, "f", x, y) + peep["f"] * c + (1 if options.get("forget_bias") else 0)
        forget = 1 - i if options.get("coupled") else act["f"](clip(forget_pre))
        z = act["g"](clip(_pre(w, "z", x, y)))
        c = np.clip(c * forget + i * z, -threshold, threshold)
        o = act["f"](clip(_pre(w, "o", x, y) + peep["o"] * c))
        y = act["h"](c) * o
        out.append(y)
    return np.array(out), c


def lstm_lists(w, peep=None):
    """``W_h, W_x, b`` (and ``peep``) in the builder's order ``[i, f, o, z]``."""
    order = ("i", "f", "o", "z")
    b = None if w["b"] is None else [w["b"][g] for g in order]
    p = None if peep is None else [peep[g] for g in ("i", "f", "o")]
    return [w["R"][g] for g in order], [w["W"][g] for g in order], b, p


def gru_lists(w):
    """``W_h, W_x, b`` in the builder's order ``[z, r, o]``."""
    order = ("z", "r", "o")
    b = None if w["b"] is None else [w["b"][g] for g in order]
    return [w["R"][g] for g in order], [w["W"][g] for g in order], b
