"""simpleRecurrent and gru forward: against torch's ``nn.RNN`` with copied weights (tanh and
ReLU Elman layers), and against a step-by-step numpy reference of NeuralNetwork.proto's
equations (the GRU's reset gate before its recursion matrix, which torch's ``nn.GRU`` does not
have) over randomized shapes, every recurrent activation, the [-50, 50] clip, reverseInput,
sequenceOutput and missing biases or states; and the refusals.
"""

from __future__ import annotations

import numpy as np
import pytest

from runtime.nn.graph import compile_network
from tests import sequence_reference as ref
from tests.nd_networks import network, run
from tests.optional import needs, optional_import
from tests.test_layers_lstm import f32
from updatable.errors import ShapeError, UnsupportedLayerError

torch = optional_import("torch")


def rnn_spec(w, size, hidden, shapes, options=None):
    options = options or {}

    def add(builder):
        builder.add_simple_rnn(
            "rnn",
            w["R"]["h"],
            w["W"]["h"],
            None if w["b"] is None else w["b"]["h"],
            hidden,
            size,
            options.get("f", "TANH"),
            ["x", "h0"],
            ["out", "h"],
            output_all=options.get("sequence", True),
            reverse_input=options.get("reverse", False),
        )

    return network({"x": shapes[0], "h0": shapes[1]}, add, ("out", "h"))


def gru_spec(w, size, hidden, shapes, options=None):
    options = options or {}
    names = ("x", "h0")[: len(shapes)]
    w_h, w_x, b = ref.gru_lists(w)

    def add(builder):
        builder.add_gru(
            "gru",
            w_h,
            w_x,
            b,
            hidden,
            size,
            list(names),
            ["out", "h"],
            activation=options.get("g", "TANH"),
            inner_activation=options.get("f", "SIGMOID_HARD"),
            output_all=options.get("sequence", True),
            reverse_input=options.get("reverse", False),
        )

    return network(dict(zip(names, shapes, strict=True)), add, ("out", "h"))


def reference(step, w, x, h0, options):
    """Run ``step`` (a ``sequence_reference`` layer) on every sequence of ``x``."""
    n, seq, batch = x.shape[:3]
    hidden = w["R"][next(iter(w["R"]))].shape[0]
    outs = np.empty((n, seq, batch, hidden))
    for e in range(n):
        for b in range(batch):
            steps = x[e, :, b, :, 0, 0]
            start = np.zeros(hidden) if h0 is None else h0[e].reshape(batch, hidden)[b]
            outs[e, :, b] = step(w, steps[::-1] if options.get("reverse") else steps, start)
    return outs if options.get("sequence", True) else outs[:, -1:], outs[:, -1]


def random_case(rng, gates, scale=0.5, bias=True):
    seq, batch, size, hidden = (int(v) for v in rng.integers(1, 5, size=4))
    return seq, batch, size, hidden, f32(ref.gates(rng, gates, hidden, size, scale, bias))


# ---- simpleRecurrent -----------------------------------------------------------------------


@needs("torch")
@pytest.mark.parametrize("seed", range(6))
def test_simple_recurrent_matches_torch_rnn(seed):
    rng = np.random.default_rng(seed)
    seq, batch, size, hidden, w = random_case(rng, "h")
    nonlinearity = ("tanh", "relu")[seed % 2]
    module = torch.nn.RNN(size, hidden, nonlinearity=nonlinearity).double()
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.tensor(w["W"]["h"]))
        module.weight_hh_l0.copy_(torch.tensor(w["R"]["h"]))
        module.bias_ih_l0.copy_(torch.tensor(w["b"]["h"]))
        module.bias_hh_l0.zero_()
    state = (1, batch, hidden, 1, 1)
    spec = rnn_spec(w, size, hidden, [(seq, batch, size, 1, 1), state], {"f": nonlinearity.upper()})
    x, h0 = rng.standard_normal((3, seq, batch, size, 1, 1)), rng.standard_normal((3, *state))
    got = run(spec, {"x": x, "h0": h0}, ("out", "h"))
    for n in range(3):
        y, h = module(torch.tensor(x[n, ..., 0, 0]), torch.tensor(h0[n, ..., 0, 0]))
        np.testing.assert_allclose(got["out"][n, ..., 0, 0], y.detach().numpy(), atol=1e-12)
        np.testing.assert_allclose(got["h"][n, 0, ..., 0, 0], h[0].detach().numpy(), atol=1e-12)


@pytest.mark.parametrize("seed", range(12))
def test_simple_recurrent_follows_the_proto_equation(seed):
    rng = np.random.default_rng(300 + seed)
    seq, batch, size, hidden, w = random_case(
        rng, "h", float(rng.choice([0.5, 40.0])), bool(rng.integers(2))
    )
    options = {
        "f": str(rng.choice(list(ref.ACTIVATIONS))),
        "reverse": bool(rng.integers(2)),
        "sequence": bool(rng.integers(2)),
    }
    # nn.RNN's h0 as coremltools writes it: the hidden values on the Batch axis
    state = (1, batch * hidden, 1, 1, 1) if batch == 1 else (1, batch, hidden, 1, 1)
    spec = rnn_spec(w, size, hidden, [(seq, batch, size, 1, 1), state], options)
    x, h0 = 2 * rng.standard_normal((2, seq, batch, size, 1, 1)), rng.standard_normal((2, *state))
    got = run(spec, {"x": x, "h0": h0}, ("out", "h"))
    out, h = reference(lambda w_, xs, y: ref.rnn(w_, xs, y, options["f"]), w, x, h0, options)
    np.testing.assert_allclose(got["out"][..., 0, 0], out, rtol=1e-10, atol=1e-10, err_msg=options)
    np.testing.assert_allclose(got["h"][:, 0, ..., 0, 0], h, rtol=1e-10, atol=1e-10)


def test_simple_recurrent_needs_its_state_input():
    """Core ML's validator requires both inputs of a simpleRecurrent layer."""
    rng = np.random.default_rng(0)
    spec = rnn_spec(f32(ref.gates(rng, "h", 3, 2)), 2, 3, [(4, 1, 2, 1, 1), (1, 1, 3, 1, 1)])
    del spec.neuralNetwork.layers[0].input[1]
    with pytest.raises(
        ShapeError,
        match=r"layer 'rnn' \(simpleRecurrent\) has 1 input "
        r"\['x'\]; this kind takes exactly 2$",
    ):
        compile_network(spec)


# ---- gru -----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(16))
def test_gru_follows_the_proto_equations(seed):
    rng = np.random.default_rng(400 + seed)
    seq, batch, size, hidden, w = random_case(
        rng, "zro", float(rng.choice([0.5, 40.0])), bool(rng.integers(2))
    )
    names = list(ref.ACTIVATIONS)
    options = {
        "f": str(rng.choice(names)),
        "g": str(rng.choice(names)),
        "reverse": bool(rng.integers(2)),
        "sequence": bool(rng.integers(2)),
    }
    state = (1, batch, hidden, 1, 1)
    with_state = bool(rng.integers(2))
    shapes = [(seq, batch, size, 1, 1), state][: 1 + with_state]
    spec = gru_spec(w, size, hidden, shapes, options)
    x = 2 * rng.standard_normal((2, seq, batch, size, 1, 1))
    h0 = rng.standard_normal((2, *state)) if with_state else None
    feeds = {"x": x, "h0": h0} if with_state else {"x": x}
    got = run(spec, feeds, ("out", "h"))
    out, h = reference(
        lambda w_, xs, y: ref.gru(w_, xs, y, options["f"], options["g"]), w, x, h0, options
    )
    np.testing.assert_allclose(got["out"][..., 0, 0], out, rtol=1e-10, atol=1e-10, err_msg=options)
    np.testing.assert_allclose(got["h"][:, 0, ..., 0, 0], h, rtol=1e-10, atol=1e-10)


@needs("torch")
def test_gru_resets_before_the_recursion_matrix_unlike_torch():
    """The proto's GRU scales y_{t-1} by r_t before R_o; torch's nn.GRU applies r_t after
    its hidden product (Keras' reset_after=True): with equal weights the two differ, and ours
    is the reference's."""
    rng = np.random.default_rng(5)
    size, hidden = 3, 4
    w = f32(ref.gates(rng, "zro", hidden, size, 1.0, bias=False))
    spec = gru_spec(w, size, hidden, [(6, 1, size, 1, 1)], {"f": "SIGMOID"})
    x = rng.standard_normal((1, 6, 1, size, 1, 1))
    got = run(spec, {"x": x}, ("out",))["out"][0, :, 0, :, 0, 0]
    module = torch.nn.GRU(size, hidden, bias=False).double()
    with torch.no_grad():  # torch's gate order is r, z, n
        module.weight_ih_l0.copy_(torch.tensor(np.concatenate([w["W"][g] for g in "rzo"])))
        module.weight_hh_l0.copy_(torch.tensor(np.concatenate([w["R"][g] for g in "rzo"])))
    torch_out = module(torch.tensor(x[0, :, 0, :, 0, 0]))[0].detach().numpy()
    np.testing.assert_allclose(got, ref.gru(w, x[0, :, 0, :, 0, 0], np.zeros(hidden)), atol=1e-12)
    assert np.abs(got - torch_out).max() > 1e-3


def test_gru_hard_sigmoid_as_the_builder_writes_it_is_0_2_x_plus_0_5():
    """coremltools' builder writes SIGMOID_HARD with alpha = beta = 0: Core ML's only hard
    sigmoid, min(max(0.2 x + 0.5, 0), 1)."""
    w = {
        "W": {g: np.full((1, 1), 1.0) for g in "zro"},
        "R": {g: np.zeros((1, 1)) for g in "zro"},
        "b": None,
    }
    spec = gru_spec(w, 1, 1, [(1, 1, 1, 1, 1)], {"g": "LINEAR"})
    params = spec.neuralNetwork.layers[0].gru.activations[0].sigmoidHard
    assert (params.alpha, params.beta) == (0, 0)
    x = np.array([-10.0, -1.0, 0.0, 1.0, 10.0]).reshape(5, 1, 1, 1, 1, 1)
    z = np.clip(0.2 * x + 0.5, 0, 1)
    np.testing.assert_allclose(run(spec, {"x": x}, ("out",))["out"], (1 - z) * x, atol=1e-15)


def test_gru_refusals_name_the_layer():
    rng = np.random.default_rng(6)
    w = f32(ref.gates(rng, "zro", 3, 2))
    where = r"layer 'gru' \(gru\): "
    spec = gru_spec(w, 2, 3, [(4, 1, 2, 1, 1)])
    del spec.neuralNetwork.layers[0].gru.activations[1]
    with pytest.raises(
        UnsupportedLayerError, match=where + "activations lists 1 activations; expected 2"
    ):
        compile_network(spec)
    spec = gru_spec(w, 2, 3, [(4, 1, 2, 1, 1)])
    del spec.neuralNetwork.layers[0].gru.resetGateBiasVector.floatValue[:]
    with pytest.raises(ShapeError, match=where + "resetGateBiasVector has 0 values; expected 3"):
        compile_network(spec)
    with pytest.raises(
        ShapeError,
        match=where + r"the input must have shape \[Seq, Batch, "
        r"inputVectorSize = 2, 1, 1\] \(rank 5\); "
        r"got \[4, 2\]",
    ):
        compile_network(gru_spec(w, 2, 3, [(4, 2)]))
