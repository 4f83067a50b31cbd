"""The converter-style N-D attention block (``converter_style.nd_attention_block``: batchedMatMul
with weights, reshapeStatic/transpose heads, scaled scores, softmaxND, residual
addBroadcastable, layerNormalization, gelu (tanh approximation), reduceMean, sliceStatic +
squeeze, concatND, head) predicts through ``runtime.Model`` what torch computes from the same
weights, read from the spec: 1e-4 relative and the same top-1, on a batch of inputs.
"""

from __future__ import annotations

import numpy as np

import runtime
from tests.builders import converter_style
from tests.optional import needs, optional_import

torch = optional_import("torch")
TOLERANCE = 1e-4


def _weights(weights) -> np.ndarray:
    return np.asarray(weights.floatValue, np.float64)


def torch_reference(spec, x: np.ndarray) -> np.ndarray:
    """The block in torch (float64), every weight read from the spec's layers by name."""
    F = torch.nn.functional
    layers = {layer.name: layer for layer in spec.neuralNetwork.layers}

    def dense(name, inputs):
        p = layers[name].batchedMatmul  # weights stored column-major, as the proto says
        w = _weights(p.weights).reshape(p.weightMatrixSecondDimension, p.weightMatrixFirstDimension)
        return inputs @ torch.from_numpy(w.T) + torch.from_numpy(_weights(p.bias))

    def heads(t):  # (N, 1, 8, 16) -> (N, 1, 2, 8, 8): two heads of 8, steps second
        return t.reshape(t.shape[0], 1, 8, 2, 8).transpose(2, 3)

    t = torch.from_numpy(x)  # (N, 1, 8, 16)
    q, k, v = (heads(dense(f"attention/{p}/MatMul", t)) for p in "qkv")
    scale = float(_weights(layers["attention/scale"].loadConstantND.data)[0])
    weights = torch.softmax(q @ k.transpose(-1, -2) * scale, dim=-1)
    merged = (weights @ v).transpose(2, 3).reshape(t.shape)
    norm_layer = layers["attention/LayerNorm"].layerNormalization
    norm = F.layer_norm(
        merged + t,
        (16,),
        torch.from_numpy(_weights(norm_layer.gamma)),
        torch.from_numpy(_weights(norm_layer.beta)),
        eps=norm_layer.eps,
    )
    hidden = F.gelu(dense("ffn/dense/MatMul", norm), approximate="tanh")
    out = dense("ffn/dense_1/MatMul", hidden)  # (N, 1, 8, 16)
    pooled = torch.cat([out.mean(dim=2), out[:, :, 0]], dim=-1)  # (N, 1, 32)
    return torch.softmax(dense("head/MatMul", pooled), dim=-1).numpy()


@needs("torch")
def test_the_nd_attention_block_predicts_what_torch_computes_from_its_weights():
    spec = converter_style.nd_attention_block()
    model = runtime.Model.load(spec)
    x = np.random.default_rng(0).standard_normal((6, 1, 8, 16)).astype(np.float32)
    expected = torch_reference(spec, x.astype(np.float64)).reshape(6, -1)
    outputs = model.predict_batch([{"input_1": example} for example in x])
    got = np.stack([out["Identity"].reshape(-1) for out in outputs])
    error = float(np.abs(got - expected).max()) / float(np.abs(expected).max())
    assert error <= TOLERANCE, f"nd_attention_block: max relative error {error:.3g}"
    np.testing.assert_array_equal(got.argmax(axis=1), expected.argmax(axis=1))
