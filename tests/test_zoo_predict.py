"""The torch zoo runs: models converted by coremltools (iOS 13 and iOS 14 targets) load with
``runtime.Model.load`` and predict what torch computes on realistic inputs.

``RUNNABLE`` lists the zoo models whose layer kinds the runtime has; a model joins it when
its last kind lands. Agreement: ``max |runtime - torch| <= 1e-4 * max |torch|`` over a batch
of real inputs, and the same top-1 class for classifiers. Also here: every blob's compiled
shape is the one coremltools inferred; on N-D models (relayout steps included) a batch split
across threads gives the serial run's bits and ``predict_batch`` gives what ``predict`` gives
one example at a time; the TF2-converter-style builder network agrees with a numpy reference.
"""

from __future__ import annotations

import numpy as np
import pytest

import runtime
from runtime.kernels import parallel
from runtime.nn.graph import compile_network
from tests.builders import converter_style, torch_zoo
from tests.optional import needs

RUNNABLE = (
    "cnn_bn",
    "cnn_bn_image",
    "resnet",
    "mobilenet_v2",
    "squeezenet1_1",
    "vgg",
    "transformer",
    "unet",
    "segmentation",
    "audio_cnn1d",
    "tabular_mlp",
    "embedding_net",
    "lstm",
    "bilstm",
    "rnn",
    "gru_text",
)
CASES = [(name, target) for name in RUNNABLE for target in torch_zoo.entry(name).targets]
TOLERANCE = 1e-4


def runtime_outputs(name: str, spec, outputs: list[dict]) -> np.ndarray:
    """The rows torch's ``torch_predict`` returns: class probabilities in label order, or the
    (only) multiArray output."""
    entry = torch_zoo.entry(name)
    if entry.labels is not None:
        key = spec.description.predictedProbabilitiesName
        return np.array([[out[key][label] for label in entry.labels] for out in outputs])
    key = spec.description.output[0].name
    return np.stack([np.asarray(out[key], np.float32) for out in outputs])


@needs("torch")
@pytest.mark.parametrize(("name", "target"), CASES, ids=[f"{n}-{t}" for n, t in CASES])
def test_a_converted_model_predicts_what_torch_computes(name, target):
    spec = torch_zoo.converted(name, target)
    model = runtime.Model.load(spec)
    batch, _ = torch_zoo.real_batch(name, 6)
    expected = torch_zoo.torch_predict(name, batch)
    outputs = model.predict_batch([torch_zoo.feeds(name, example) for example in batch])
    got = runtime_outputs(name, spec, outputs).reshape(expected.shape)
    error = float(np.abs(got - expected).max()) / float(np.abs(expected).max())
    assert error <= TOLERANCE, f"{name} ({target}): max relative error {error:.3g}"
    if torch_zoo.entry(name).labels is not None:
        np.testing.assert_array_equal(got.argmax(axis=1), expected.argmax(axis=1))
        label = spec.description.predictedFeatureName
        predicted = [list(torch_zoo.entry(name).labels).index(o[label]) for o in outputs]
        np.testing.assert_array_equal(predicted, expected.argmax(axis=1))


@needs("torch")
@pytest.mark.parametrize(("name", "target"), CASES, ids=[f"{n}-{t}" for n, t in CASES])
def test_every_blob_has_the_shape_coremltools_inferred(name, target):
    """The compiler's Core ML shapes against those of coremltools' own program, blob by blob
    (blobs the backend adds without a program name are not compared)."""
    network = compile_network(torch_zoo.converted(name, target), fuse=False)
    inferred = torch_zoo.tensor_shapes(name, target)
    common = [blob for blob in network.tensors if blob in inferred]
    # a third at least: the recurrent conversions add many unnamed rank-5 blobs around their
    # layers (bilstm: 12 of 34 blobs carry program names)
    assert len(common) >= len(network.tensors) // 3
    for blob in common:
        assert list(network.tensors[blob].shape) == inferred[blob], blob


@pytest.fixture
def _policy_restored():
    yield
    parallel.configure(None)


@needs("torch")
@pytest.mark.usefixtures("_policy_restored")
@pytest.mark.parametrize(
    "name", ["squeezenet1_1", "transformer", "audio_cnn1d", "embedding_net", "lstm", "bilstm"]
)
def test_an_nd_model_gives_the_same_bits_split_across_threads_and_one_example_at_a_time(name):
    spec = torch_zoo.converted(name, "iOS14")
    model = runtime.Model.load(spec)
    network = model.engine.network
    batch, _ = torch_zoo.real_batch(name, 5)
    examples = [torch_zoo.feeds(name, b) for b in batch]
    key = next(iter(examples[0]))
    feeds = model.engine.to_blobs({key: np.stack([e[key] for e in examples])})
    parallel.configure(1)
    serial = network.run(feeds)
    parallel.configure(2)
    split = network.run(feeds)
    for blob in serial:
        np.testing.assert_array_equal(split[blob], serial[blob], err_msg=blob)
    together = model.predict_batch(examples)
    for example, row in zip(examples, together, strict=True):
        alone = model.predict(example)
        for output, value in row.items():
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(alone[output], value, err_msg=output)
            else:
                assert alone[output] == value, output


def test_the_tf2_style_classifier_matches_a_reference_computed_from_its_weights():
    """converter_style.tf2_image_classifier (NHWC input, transposes, flattenTo2D, dense layers as
    batchedMatMul with weights, softmaxND): the reference reads the weights from the spec
    (batchedMatMul's stored column-major as the proto says) and computes in numpy."""
    spec = converter_style.tf2_image_classifier()
    layers = {layer.name: layer for layer in spec.neuralNetworkClassifier.layers}
    conv = layers["conv2d/Conv2D"].convolution
    w = np.asarray(conv.weights.floatValue, np.float64).reshape(8, 1, 3, 3)
    b = np.asarray(conv.bias.floatValue, np.float64)

    def dense(name):
        p = layers[name].batchedMatmul
        x1, x2 = p.weightMatrixFirstDimension, p.weightMatrixSecondDimension
        return (
            np.asarray(p.weights.floatValue, np.float64).reshape(x2, x1).T,
            np.asarray(p.bias.floatValue, np.float64),
        )

    x = np.random.default_rng(0).uniform(0, 1, (4, 1, 28, 28, 1))
    image = x[:, 0, :, :, 0]
    windows = np.lib.stride_tricks.sliding_window_view(image, (3, 3), axis=(1, 2))
    feature = np.maximum(np.einsum("nhwij,cij->nchw", windows, w[:, 0]) + b[:, None, None], 0)
    pooled = feature.reshape(4, 8, 13, 2, 13, 2).max(axis=(3, 5))
    flat = pooled.transpose(0, 2, 3, 1).reshape(4, -1)  # back to NHWC, then flattened
    (w1, b1), (w2, b2) = dense("dense/MatMul"), dense("dense_1/MatMul")
    logits = np.maximum(flat @ w1 + b1, 0) @ w2 + b2
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    model = runtime.Model.load(spec)
    outputs = model.predict_batch([{"input_1": example.astype(np.float32)} for example in x])
    key = spec.description.predictedProbabilitiesName
    got = np.array([[out[key][str(k)] for k in range(10)] for out in outputs])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    assert [out[spec.description.predictedFeatureName] for out in outputs] == [
        str(k) for k in expected.argmax(axis=1)
    ]
