"""uniDirectionalLSTM and biDirectionalLSTM forward: against torch's ``nn.LSTM`` with copied
weights where the proto's LSTM is torch's (sigmoid, tanh, tanh; no peepholes), and against a
step-by-step numpy reference of NeuralNetwork.proto's equations for every option (the six
recurrent activations, peepholes, coupled input and forget gate, forgetBias, cell clip, the
[-50, 50] clip, reverseInput, sequenceOutput, missing initial states); and the refusals.

Networks come from coremltools' builder (``tests.nd_networks``: rank-5 ``[Seq, Batch, D, 1,
1]`` inputs under EXACT_ARRAY_MAPPING); inputs are float64, weights float32-rounded.
"""

from __future__ import annotations

import numpy as np
import pytest

from runtime.nn.graph import compile_network
from tests import sequence_reference as ref
from tests.nd_networks import network, run
from tests.optional import needs, optional_import
from updatable.errors import ShapeError, UnsupportedLayerError

torch = optional_import("torch")

GATES = ("i", "f", "z", "o")


def f32(tree):
    """Weights rounded to float32 (what the spec stores), kept float64."""
    if isinstance(tree, dict):
        return {k: f32(v) for k, v in tree.items()}
    return None if tree is None else np.asarray(tree, np.float32).astype(np.float64)


def lstm_spec(w, size, hidden, shapes, options=None, names=("x", "h0", "c0")):
    """A network with one uniDirectionalLSTM reading ``names`` (inputs of ``shapes``)."""
    options = options or {}
    w_h, w_x, b, peep = ref.lstm_lists(w, options.get("peep"))

    def add(builder):
        builder.add_unilstm(
            "lstm",
            w_h,
            w_x,
            b,
            hidden,
            size,
            list(names),
            ["out", "h", "c"],
            inner_activation=options.get("f", "SIGMOID"),
            cell_state_update_activation=options.get("g", "TANH"),
            output_activation=options.get("h", "TANH"),
            peep=peep,
            output_all=options.get("sequence", True),
            forget_bias=options.get("forget_bias", False),
            coupled_input_forget_gate=options.get("coupled", False),
            cell_clip_threshold=options.get("cell_clip", 50.0),
            reverse_input=options.get("reverse", False),
        )

    return network(dict(zip(names, shapes, strict=True)), add, ("out", "h", "c"))


def random_case(rng, scale=0.5, bias=True):
    seq, batch, size, hidden = (int(v) for v in rng.integers(1, 5, size=4))
    w = f32(ref.gates(rng, GATES, hidden, size, scale, bias))
    return seq, batch, size, hidden, w


@needs("torch")
@pytest.mark.parametrize("seed", range(6))
def test_uni_lstm_matches_torch_lstm(seed):
    rng = np.random.default_rng(seed)
    seq, batch, size, hidden, w = random_case(rng)
    module = torch.nn.LSTM(size, hidden).double()
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.tensor(np.concatenate([w["W"][g] for g in GATES])))
        module.weight_hh_l0.copy_(torch.tensor(np.concatenate([w["R"][g] for g in GATES])))
        module.bias_ih_l0.copy_(torch.tensor(np.concatenate([w["b"][g] for g in GATES])))
        module.bias_hh_l0.zero_()
    state = (1, batch, hidden, 1, 1)
    spec = lstm_spec(w, size, hidden, [(seq, batch, size, 1, 1), state, state])
    x = rng.standard_normal((3, seq, batch, size, 1, 1))
    h0, c0 = rng.standard_normal((2, 3, *state))
    got = run(spec, {"x": x, "h0": h0, "c0": c0}, ("out", "h", "c"))
    for n in range(3):
        y, (h, c) = module(
            torch.tensor(x[n, ..., 0, 0]),
            (torch.tensor(h0[n, ..., 0, 0]), torch.tensor(c0[n, ..., 0, 0])),
        )
        np.testing.assert_allclose(got["out"][n, ..., 0, 0], y.detach().numpy(), atol=1e-12)
        np.testing.assert_allclose(got["h"][n, ..., 0, 0], h.detach().numpy(), atol=1e-12)
        np.testing.assert_allclose(got["c"][n, ..., 0, 0], c.detach().numpy(), atol=1e-12)


def reference_lstm(w, x, states, options):
    """Reference outputs ``(N, Seq or 1, B, H)`` and final ``y``, ``c`` ``(N, B, H)``."""
    n, batch = x.shape[0], x.shape[2]
    hidden = w["R"]["i"].shape[0]
    outs, hs, cs = [], [], []
    for e in range(n):
        per_batch = []
        for b in range(batch):
            steps = x[e, :, b, :, 0, 0]
            steps = steps[::-1] if options.get("reverse") else steps
            y0, c0 = (
                np.zeros(hidden) if s is None else s[e].reshape(batch, hidden)[b] for s in states
            )
            per_batch.append(ref.lstm(w, steps, y0, c0, options))
        ys = np.stack([p[0] for p in per_batch], axis=1)  # (S, B, H)
        outs.append(ys if options.get("sequence", True) else ys[-1:])
        hs.append(ys[-1])
        cs.append(np.stack([p[1] for p in per_batch]))
    return np.array(outs), np.array(hs), np.array(cs)


@pytest.mark.parametrize("seed", range(24))
def test_uni_lstm_follows_the_proto_equations_for_every_option(seed):
    rng = np.random.default_rng(100 + seed)
    seq, batch, size, hidden, w = random_case(
        rng, scale=float(rng.choice([0.5, 3.0, 40.0])), bias=bool(rng.integers(2))
    )
    names = list(ref.ACTIVATIONS)
    options = {
        "f": str(rng.choice(names)),
        "g": str(rng.choice(names)),
        "h": str(rng.choice(names)),
        "peep": f32({g: rng.uniform(-1, 1, hidden) for g in "ifo"}) if rng.integers(2) else None,
        "coupled": bool(rng.integers(2)),
        "forget_bias": bool(rng.integers(2)),
        # the proto's float: the reference clips at the float32 the spec stores
        "cell_clip": float(np.float32(rng.choice([0.3, 2.0, 50.0, 500.0]))),
        "reverse": bool(rng.integers(2)),
        "sequence": bool(rng.integers(2)),
    }
    with_states = int(rng.integers(1, 4))  # x only, x + y0, x + y0 + c0
    names = ("x", "h0", "c0")[:with_states]
    state = (1, batch, hidden, 1, 1)
    spec = lstm_spec(
        w, size, hidden, [(seq, batch, size, 1, 1), state, state][:with_states], options, names
    )
    x = rng.standard_normal((2, seq, batch, size, 1, 1)) * 2
    feeds = {"x": x}
    states = [None, None]
    for k, name in enumerate(names[1:]):
        feeds[name] = states[k] = rng.standard_normal((2, *state))
    got = run(spec, feeds, ("out", "h", "c"))
    out, h, c = reference_lstm(w, x, states, options)
    np.testing.assert_allclose(got["out"][..., 0, 0], out, rtol=1e-9, atol=1e-9, err_msg=options)
    np.testing.assert_allclose(got["h"][:, 0, :, :, 0, 0], h, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(got["c"][:, 0, :, :, 0, 0], c, rtol=1e-9, atol=1e-9)


def test_uni_lstm_clips_pre_activations_and_cells():
    """Linear activations expose both clips: pre-activations to [-50, 50], the cell to the
    threshold (0 reads as 50)."""
    w = f32(
        {
            "W": {g: np.full((1, 1), 100.0) for g in GATES},
            "R": {g: np.zeros((1, 1)) for g in GATES},
            "b": None,
        }
    )
    options = {"f": "LINEAR", "g": "LINEAR", "h": "LINEAR", "cell_clip": 0.0}
    spec = lstm_spec(w, 1, 1, [(2, 1, 1, 1, 1)], options, ("x",))
    got = run(spec, {"x": np.ones((1, 2, 1, 1, 1, 1))}, ("out", "h", "c"))
    # step 1: i = f = z = o = 50; c = 50 * 50 -> 50; y = 50 * 50
    np.testing.assert_array_equal(got["out"].reshape(2), [2500.0, 2500.0])
    np.testing.assert_array_equal(got["c"].reshape(1), [50.0])


@needs("torch")
def test_reverse_input_lists_outputs_in_the_order_they_are_made():
    """``reverseInput``: output 1 is the LSTM's output after reading x_Seq alone (torch on
    the flipped sequence, not flipped back), as Keras' go_backwards and coremltools' tests."""
    rng = np.random.default_rng(7)
    seq, size, hidden = 5, 3, 4
    module = torch.nn.LSTM(size, hidden, bias=False).double()
    w = f32(
        {
            "W": dict(zip(GATES, np.split(module.weight_ih_l0.detach().numpy(), 4), strict=True)),
            "R": dict(zip(GATES, np.split(module.weight_hh_l0.detach().numpy(), 4), strict=True)),
            "b": None,
        }
    )
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.tensor(np.concatenate([w["W"][g] for g in GATES])))
        module.weight_hh_l0.copy_(torch.tensor(np.concatenate([w["R"][g] for g in GATES])))
    spec = lstm_spec(w, size, hidden, [(seq, 1, size, 1, 1)], {"reverse": True}, ("x",))
    x = rng.standard_normal((1, seq, 1, size, 1, 1))
    got = run(spec, {"x": x}, ("out", "h", "c"))
    y, _ = module(torch.tensor(x[0, ::-1, :, :, 0, 0].copy()))
    np.testing.assert_allclose(got["out"][0, ..., 0, 0], y.detach().numpy(), atol=1e-12)


def test_a_state_with_its_values_on_the_batch_axis_reads_like_the_channel_axis():
    """coremltools writes nn.RNN's h0 as [1, H, 1, 1, 1]; Batch * H values either way."""
    rng = np.random.default_rng(3)
    seq, batch, size, hidden, w = 3, 1, 2, 4, f32(ref.gates(rng, GATES, 4, 2))
    x, h0 = rng.standard_normal((2, seq, batch, size, 1, 1)), rng.standard_normal((2, hidden))
    results = []
    for shape in ((1, 1, hidden, 1, 1), (1, hidden, 1, 1, 1)):
        spec = lstm_spec(w, size, hidden, [(seq, batch, size, 1, 1), shape], names=("x", "h0"))
        results.append(run(spec, {"x": x, "h0": h0.reshape(2, *shape)}, ("out", "h", "c")))
    for key in ("out", "h", "c"):
        np.testing.assert_array_equal(results[0][key], results[1][key])


# ---- biDirectionalLSTM ---------------------------------------------------------------------


def bilstm_spec(forward, backward, size, hidden, shapes, names, sequence=True):
    w_h, w_x, b, _ = ref.lstm_lists(forward)
    w_h_back, w_x_back, b_back, _ = ref.lstm_lists(backward)
    outputs = ("out", "hf", "cf", "hb", "cb")

    def add(builder):
        builder.add_bidirlstm(
            "bi",
            w_h,
            w_x,
            b,
            w_h_back,
            w_x_back,
            b_back,
            hidden,
            size,
            list(names),
            list(outputs),
            output_all=sequence,
        )

    return network(dict(zip(names, shapes, strict=True)), add, outputs)


@needs("torch")
@pytest.mark.parametrize("seed", range(6))
def test_bi_lstm_matches_torch_bidirectional_lstm(seed):
    """Step t is [yf_t, yb_t] (yb_t: the backward LSTM just after reading x_t), as torch lays
    out a bidirectional LSTM; without sequenceOutput, [yf_T, yb_1]; then the final states,
    forward first."""
    rng = np.random.default_rng(200 + seed)
    seq, batch, size, hidden, _ = random_case(rng)
    module = torch.nn.LSTM(size, hidden, bidirectional=True).double()
    directions = []
    for suffix in ("", "_reverse"):
        split = {
            k: np.split(getattr(module, f"{k}_l0{suffix}").detach().numpy(), 4)
            for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        }
        directions.append(
            f32(
                {
                    "W": dict(zip(GATES, split["weight_ih"], strict=True)),
                    "R": dict(zip(GATES, split["weight_hh"], strict=True)),
                    "b": {
                        g: split["bias_ih"][k] + split["bias_hh"][k] for k, g in enumerate(GATES)
                    },
                }
            )
        )
        with torch.no_grad():
            w = directions[-1]
            for name, part in (("weight_ih", "W"), ("weight_hh", "R"), ("bias_ih", "b")):
                values = np.concatenate([w[part][g] for g in GATES])
                getattr(module, f"{name}_l0{suffix}").copy_(torch.tensor(values))
            getattr(module, f"bias_hh_l0{suffix}").zero_()
    sequence = bool(seed % 2)
    state = (1, batch, hidden, 1, 1)
    names = ("x", "hf0", "cf0", "hb0", "cb0")
    spec = bilstm_spec(
        *directions, size, hidden, [(seq, batch, size, 1, 1), *[state] * 4], names, sequence
    )
    x = rng.standard_normal((2, seq, batch, size, 1, 1))
    states = rng.standard_normal((4, 2, *state))
    got = run(
        spec, {"x": x, **dict(zip(names[1:], states, strict=True))}, ("out", "hf", "cf", "hb", "cb")
    )
    for n in range(2):
        h0 = torch.tensor(np.stack([states[0, n, 0, :, :, 0, 0], states[2, n, 0, :, :, 0, 0]]))
        c0 = torch.tensor(np.stack([states[1, n, 0, :, :, 0, 0], states[3, n, 0, :, :, 0, 0]]))
        y, (h, c) = module(torch.tensor(x[n, ..., 0, 0]), (h0, c0))
        y, h, c = y.detach().numpy(), h.detach().numpy(), c.detach().numpy()
        expected = (
            y if sequence else np.concatenate([y[-1, :, :hidden], y[0, :, hidden:]], axis=1)[None]
        )
        np.testing.assert_allclose(got["out"][n, ..., 0, 0], expected, atol=1e-12)
        for key, value in zip(("hf", "cf", "hb", "cb"), (h[0], c[0], h[1], c[1]), strict=True):
            np.testing.assert_allclose(got[key][n, 0, :, :, 0, 0], value, atol=1e-12, err_msg=key)


def test_bi_lstm_without_states_starts_from_zeros():
    rng = np.random.default_rng(9)
    forward, backward = (f32(ref.gates(rng, GATES, 3, 2)) for _ in range(2))
    spec = bilstm_spec(forward, backward, 2, 3, [(4, 2, 2, 1, 1)], ("x",))
    x = rng.standard_normal((2, 4, 2, 2, 1, 1))
    got = run(spec, {"x": x}, ("out", "hb"))
    zeros = np.zeros(3)
    for n in range(2):
        for b in range(2):
            yf, _ = ref.lstm(forward, x[n, :, b, :, 0, 0], zeros, zeros, {})
            yb, _ = ref.lstm(backward, x[n, ::-1, b, :, 0, 0], zeros, zeros, {})
            expected = np.concatenate([yf, yb[::-1]], axis=1)
            np.testing.assert_allclose(got["out"][n, :, b, :, 0, 0], expected, atol=1e-12)
            np.testing.assert_allclose(got["hb"][n, 0, b, :, 0, 0], yb[-1], atol=1e-12)


# ---- refusals ------------------------------------------------------------------------------


def _lstm_layer(spec):
    return spec.neuralNetwork.layers[0]


def _compile_error(spec, error, pattern):
    with pytest.raises(error, match=pattern):
        compile_network(spec)


def test_uni_lstm_refusals_name_the_layer():
    rng = np.random.default_rng(1)
    w = f32(ref.gates(rng, GATES, 3, 2))
    where = r"layer 'lstm' \(uniDirectionalLSTM\): "
    _compile_error(
        lstm_spec(w, 2, 3, [(4, 1, 2)], names=("x",)),
        ShapeError,
        where + r"the input must have shape \[Seq, Batch, inputVectorSize = 2, 1, 1\]",
    )
    _compile_error(
        lstm_spec(w, 2, 3, [(4, 1, 3, 1, 1)], names=("x",)),
        ShapeError,
        where + r".*got \[4, 1, 3, 1, 1\]",
    )
    _compile_error(
        lstm_spec(w, 2, 3, [(4, 2, 2, 1, 1), (1, 1, 3, 1, 1)], names=("x", "h0")),
        ShapeError,
        where + r"the initial output y_0 must hold Batch \* "
        r"outputVectorSize = 2 \* 3 values",
    )
    spec = lstm_spec(w, 2, 3, [(4, 1, 2, 1, 1)], names=("x",))
    del _lstm_layer(spec).uniDirectionalLSTM.activations[2]
    _compile_error(
        spec, UnsupportedLayerError, where + "activations lists 2 activations; expected 3"
    )
    spec = lstm_spec(w, 2, 3, [(4, 1, 2, 1, 1)], names=("x",))
    _lstm_layer(spec).uniDirectionalLSTM.activations[1].leakyReLU.alpha = 0.1
    _compile_error(
        spec,
        UnsupportedLayerError,
        where + r"activations\[1\] is leakyReLU; "
        "recurrent layers support linear, sigmoid, tanh, ReLU, scaledTanh, "
        "sigmoidHard",
    )
    spec = lstm_spec(w, 2, 3, [(4, 1, 2, 1, 1)], names=("x",))
    del _lstm_layer(spec).uniDirectionalLSTM.weightParams.outputGateRecursionMatrix.floatValue[0]
    _compile_error(spec, ShapeError, where + "outputGateRecursionMatrix has 8 values; expected 9")
    spec = lstm_spec(w, 2, 3, [(4, 1, 2, 1, 1)], names=("x",))
    del _lstm_layer(spec).output[2]
    _compile_error(spec, ShapeError, where + "produces 3 outputs; the layer names 2")


@pytest.mark.parametrize(
    ("kind", "alpha", "beta", "accepted"),
    [
        ("scaledTanh", 0.0, 0.0, True),
        ("scaledTanh", 1.7159, 2 / 3, True),
        ("scaledTanh", 1.0, 1.0, False),
        ("sigmoidHard", 0.2, 0.5, True),
        ("sigmoidHard", 1 / 6, 0.5, False),
        ("linear", 1.0, 0.0, True),
        ("linear", 2.0, 0.0, False),
    ],
)
def test_parameterised_recurrent_activations_take_only_the_documented_values(
    kind, alpha, beta, accepted
):
    rng = np.random.default_rng(2)
    spec = lstm_spec(f32(ref.gates(rng, GATES, 3, 2)), 2, 3, [(4, 1, 2, 1, 1)], names=("x",))
    message = getattr(_lstm_layer(spec).uniDirectionalLSTM.activations[0], kind)
    message.alpha, message.beta = alpha, beta
    if accepted:
        compile_network(spec)
    else:
        _compile_error(
            spec,
            UnsupportedLayerError,
            rf"activations\[0\] {kind} has alpha = .*; Core ML's recurrent layers "
            "support only",
        )


def test_bi_lstm_refuses_one_set_of_weights():
    rng = np.random.default_rng(4)
    forward, backward = (f32(ref.gates(rng, GATES, 3, 2)) for _ in range(2))
    spec = bilstm_spec(forward, backward, 2, 3, [(4, 1, 2, 1, 1)], ("x",))
    del spec.neuralNetwork.layers[0].biDirectionalLSTM.weightParams[1]
    _compile_error(
        spec,
        ShapeError,
        r"layer 'bi' \(biDirectionalLSTM\): weightParams lists 1 "
        r"LSTMWeightParams; expected 2 \(forward, backward\)",
    )
