"""The Keras-converter-style sequence models of ``tests.builders.converter_style`` run: they load
with ``runtime.Model.load`` and predict what an independent torch reading of the same
protobuf computes (``nn.Embedding``, ``nn.LSTM``, ``nn.RNN``, and the proto's GRU written with
torch ops), on realistic inputs, to ``1e-4`` relative with the same top-1.

The Keras converter's rank-5 models take one sequence step per prediction (``Array(D)``
inputs) and carry the recurrent states through their optional ``<layer>_h_in`` /
``_c_in`` inputs and ``_h_out`` / ``_c_out`` outputs: a sequence is fed token by token with
the states passed back, which for a forward recurrent layer is the layer run over the whole
sequence. The CRNN makes its 16 steps inside the network (a ``reshape`` to ``[16, 64, 1,
1]``). Left-out state inputs read as zeros.
"""

from __future__ import annotations

import numpy as np
import pytest

import runtime
from tests.builders import converter_style, zoo_data
from tests.optional import needs, optional_import

torch = optional_import("torch")
F = optional_import("torch.nn.functional")

TOLERANCE = 1e-4


def _layers(spec) -> dict:
    kind = spec.WhichOneof("Type")
    return {layer.name: layer for layer in getattr(spec, kind).layers}


def _tensor(weights, *shape):
    return torch.tensor(np.asarray(weights.floatValue, np.float64).reshape(shape))


def _dense(layer):
    p = layer.innerProduct
    return _tensor(p.weights, p.outputChannels, p.inputChannels), _tensor(p.bias, -1)


def _lstm_module(p, weights, bidirectional=False):
    """An ``nn.LSTM`` holding Core ML LSTMWeightParams (forgetBias added to b_f)."""
    h, d = p.outputVectorSize, p.inputVectorSize
    module = torch.nn.LSTM(d, h, bidirectional=bidirectional).double()
    gates = ("inputGate", "forgetGate", "blockInput", "outputGate")
    for suffix, w in zip(("", "_reverse"), weights, strict=False):
        with torch.no_grad():
            getattr(module, f"weight_ih_l0{suffix}").copy_(
                torch.cat([_tensor(getattr(w, f"{g}WeightMatrix"), h, d) for g in gates])
            )
            getattr(module, f"weight_hh_l0{suffix}").copy_(
                torch.cat([_tensor(getattr(w, f"{g}RecursionMatrix"), h, h) for g in gates])
            )
            bias = torch.cat([_tensor(getattr(w, f"{g}BiasVector"), h) for g in gates])
            bias[h : 2 * h] += 1.0 if p.params.forgetBias else 0.0
            getattr(module, f"bias_ih_l0{suffix}").copy_(bias)
            getattr(module, f"bias_hh_l0{suffix}").zero_()
    return module


def _check(got: np.ndarray, expected: np.ndarray, what: str) -> float:
    error = float(np.abs(got - expected).max()) / float(np.abs(expected).max())
    assert error <= TOLERANCE, f"{what}: max relative error {error:.3g}"
    np.testing.assert_array_equal(got.argmax(axis=-1), expected.argmax(axis=-1), err_msg=what)
    return error


def _probabilities(outputs, labels) -> np.ndarray:
    return np.array([[out["output1"][label] for label in labels] for out in outputs])


# ---- keras_text_lstm: embedding -> LSTM -> dense -> softmax, token by token ----------------


@needs("torch")
def test_keras_text_lstm_streams_a_sentence_like_torch_lstm_over_it():
    spec = converter_style.keras_text_lstm()
    layers = _layers(spec)
    model = runtime.Model.load(spec)
    tokens, _ = zoo_data.sentences(12)(6, seed=3)
    count, length = tokens.shape
    state = {"lstm_1_h_in": np.zeros((count, 16)), "lstm_1_c_in": np.zeros((count, 16))}
    steps = []
    for t in range(length):
        outs = model.predict_batch(
            [
                {"input1": np.float32([tokens[i, t]]), **{k: v[i] for k, v in state.items()}}
                for i in range(count)
            ]
        )
        steps.append(_probabilities(outs, ("neg", "neu", "pos")))
        state = {f"lstm_1_{s}_in": np.stack([o[f"lstm_1_{s}_out"] for o in outs]) for s in "hc"}
    embed = layers["embedding_1"].embedding
    table = _tensor(embed.weights, embed.outputChannels, embed.inputDim).T
    lstm = layers["lstm_1"].uniDirectionalLSTM
    module = _lstm_module(lstm, [lstm.weightParams])
    weight, bias = _dense(layers["dense_1"])
    y, _ = module(table[torch.tensor(tokens.T.astype(np.int64))])  # (T, N, H)
    expected = torch.softmax(y @ weight.T + bias, dim=-1).detach().numpy()
    _check(np.stack(steps), expected, "keras_text_lstm")


@needs("torch")
def test_keras_text_lstm_without_its_state_inputs_starts_from_zeros():
    spec = converter_style.keras_text_lstm()
    model = runtime.Model.load(spec)
    zeros = {"lstm_1_h_in": np.zeros(16, np.float32), "lstm_1_c_in": np.zeros(16, np.float32)}
    for token in (0, 7, 24):
        alone = model.predict({"input1": np.float32([token])})
        explicit = model.predict({"input1": np.float32([token]), **zeros})
        assert alone["output1"] == explicit["output1"]
        np.testing.assert_array_equal(alone["lstm_1_c_out"], explicit["lstm_1_c_out"])


# ---- keras_crnn: conv -> pool -> permute -> reshape to 16 steps -> GRU -> dense ------------


def _strips(count: int, seed: int = 0) -> np.ndarray:
    """Real digits as OCR strips ``(count, 1, 16, 32)``: two digits, each averaged down to
    14 x 14 and padded to 16 x 16, side by side (float 0..1)."""
    images, _ = zoo_data.digits(2 * count, seed)
    small = images.reshape(2 * count, 14, 2, 14, 2).mean(axis=(2, 4)) / 255.0
    padded = np.pad(small, ((0, 0), (1, 1), (1, 1))).reshape(count, 2, 16, 16)
    return np.concatenate([padded[:, 0], padded[:, 1]], axis=2)[:, None].astype(np.float32)


def _core_ml_gru(p, x):
    """NeuralNetwork.proto's GRU (hard-sigmoid gates, tanh output) over x (T, N, D)."""
    h, d = p.outputVectorSize, p.inputVectorSize
    w = {
        g: _tensor(getattr(p, f"{g}GateWeightMatrix"), h, d) for g in ("update", "reset", "output")
    }
    r = {g: _tensor(getattr(p, f"{g}GateRecursionMatrix"), h, h) for g in w}
    b = {g: _tensor(getattr(p, f"{g}GateBiasVector"), h) for g in w}

    def hard(a):
        return torch.clamp(0.2 * torch.clamp(a, -50, 50) + 0.5, 0, 1)

    y = torch.zeros(x.shape[1], h, dtype=torch.float64)
    for step in x:
        z = hard(step @ w["update"].T + y @ r["update"].T + b["update"])
        reset = hard(step @ w["reset"].T + y @ r["reset"].T + b["reset"])
        o = torch.tanh(
            torch.clamp(step @ w["output"].T + (y * reset) @ r["output"].T + b["output"], -50, 50)
        )
        y = (1 - z) * o + z * y
    return y


@needs("torch")
def test_keras_crnn_reads_conv_columns_as_16_gru_steps_like_torch():
    spec = converter_style.keras_crnn()
    layers = _layers(spec)
    model = runtime.Model.load(spec)
    strips = _strips(8, seed=5)
    outs = model.predict_batch([{"input1": s} for s in strips])
    labels = [str(d) for d in range(10)]
    conv = layers["conv2d_1"].convolution
    kernel = _tensor(conv.weights, conv.outputChannels, conv.kernelChannels, 3, 3)
    x = torch.relu(
        F.conv2d(
            torch.tensor(strips, dtype=torch.float64), kernel, _tensor(conv.bias, -1), padding=1
        )
    )
    x = F.max_pool2d(x, 2)  # (N, 8, 8, 16)
    columns = x.transpose(2, 3)  # Permute((2, 1, 3)): (N, C, W, H)
    steps = columns.permute(0, 2, 3, 1).reshape(len(strips), 16, 64)  # channel-last flatten
    y = _core_ml_gru(layers["gru_1"].gru, steps.transpose(0, 1))
    weight, bias = _dense(layers["dense_1"])
    expected = torch.softmax(y @ weight.T + bias, dim=-1).detach().numpy()
    _check(_probabilities(outs, labels), expected, "keras_crnn")
    np.testing.assert_allclose(
        np.stack([o["gru_1_h_out"] for o in outs]), y.detach().numpy(), rtol=1e-4, atol=1e-5
    )


# ---- keras_sequence_tagger: simpleRecurrent -> biDirectionalLSTM -> dense per step -------


@needs("torch")
def test_keras_sequence_tagger_tags_each_step_like_torch():
    spec = converter_style.keras_sequence_tagger()
    layers = _layers(spec)
    model = runtime.Model.load(spec)
    sequences, _ = zoo_data.sensor_sequences(10, 8)(4, seed=1)
    rnn_p = layers["simple_rnn_1"].simpleRecurrent
    rnn = torch.nn.RNN(8, 12).double()
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(_tensor(rnn_p.weightMatrix, 12, 8))
        rnn.weight_hh_l0.copy_(_tensor(rnn_p.recursionMatrix, 12, 12))
        rnn.bias_ih_l0.copy_(_tensor(rnn_p.biasVector, 12))
        rnn.bias_hh_l0.zero_()
    bi_p = layers["bidirectional_1"].biDirectionalLSTM
    bi = _lstm_module(bi_p, list(bi_p.weightParams), bidirectional=True)
    weight, bias = _dense(layers["time_distributed_1"])
    names = ("h_in", "c_in", "h_in_rev", "c_in_rev")
    count = len(sequences)
    states = {
        "simple_rnn_1_h_in": np.zeros((count, 12)),
        **{f"bidirectional_1_{s}": np.zeros((count, 10)) for s in names},
    }
    got, expected = [], []
    for t in range(sequences.shape[1]):
        feeds = [
            {"input1": sequences[i, t], **{k: v[i] for k, v in states.items()}}
            for i in range(count)
        ]
        outs = model.predict_batch(feeds)
        got.append(np.stack([o["output1"] for o in outs]))
        # torch, one step from the same states
        x = torch.tensor(sequences[:, t][None], dtype=torch.float64)
        r, _ = rnn(x, torch.tensor(states["simple_rnn_1_h_in"][None]))
        h0 = torch.tensor(
            np.stack([states["bidirectional_1_h_in"], states["bidirectional_1_h_in_rev"]])
        )
        c0 = torch.tensor(
            np.stack([states["bidirectional_1_c_in"], states["bidirectional_1_c_in_rev"]])
        )
        y, _ = bi(r, (h0, c0))
        expected.append(torch.softmax(y[0] @ weight.T + bias, dim=-1).detach().numpy())
        states = {
            "simple_rnn_1_h_in": np.stack([o["simple_rnn_1_h_out"] for o in outs]),
            **{
                f"bidirectional_1_{s}": np.stack(
                    [o[f"bidirectional_1_{s.replace('in', 'out')}"] for o in outs]
                )
                for s in names
            },
        }
    _check(np.stack(got), np.stack(expected), "keras_sequence_tagger")


@pytest.mark.parametrize("name", ["keras_text_lstm", "keras_crnn", "keras_sequence_tagger"])
def test_keras_sequence_models_run_every_layer_in_the_runtime(name):
    spec = converter_style.CONVERTER_STYLE[name]()
    kinds = {step.kind.oneof for step in runtime.Model.load(spec).engine.network.steps}
    recurrent = {"uniDirectionalLSTM", "gru", "simpleRecurrent", "biDirectionalLSTM"}
    assert kinds & recurrent
