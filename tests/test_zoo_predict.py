"""The torch zoo runs: models converted by coremltools (iOS 13 and iOS 14 targets) load with
``runtime.Model.load`` and predict what torch computes on realistic inputs.

``RUNNABLE`` lists the zoo models whose layer kinds the runtime has; a model joins it when
its last kind lands. Agreement: ``max |runtime - torch| <= 1e-4 * max |torch|`` over a batch
of real inputs, and the same top-1 class for classifiers. Also here, on an N-D model (relayout
steps included): a batch split across threads gives the serial run's bits, and
``predict_batch`` gives what ``predict`` gives one example at a time.
"""

from __future__ import annotations

import numpy as np
import pytest

import runtime
from runtime.kernels import parallel
from tests.builders import torch_zoo
from tests.optional import needs

RUNNABLE = (
    "cnn_bn", "cnn_bn_image", "resnet", "mobilenet_v2", "squeezenet1_1", "vgg", "transformer",
    "unet", "segmentation", "audio_cnn1d", "tabular_mlp", "embedding_net",
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


@pytest.fixture
def _policy_restored():
    yield
    parallel.configure(None)


@needs("torch")
@pytest.mark.usefixtures("_policy_restored")
def test_an_nd_model_gives_the_same_bits_split_across_threads_and_one_example_at_a_time():
    name = "squeezenet1_1"
    spec = torch_zoo.converted(name, "iOS14")
    model = runtime.Model.load(spec)
    network = model.engine.network
    assert any(step.kind.oneof == "relayout" for step in network.steps)
    batch, _ = torch_zoo.real_batch(name, 5)
    feeds = model.engine.to_blobs({"image": np.stack([torch_zoo.feeds(name, b)["image"]
                                                      for b in batch])})
    parallel.configure(1)
    serial = network.run(feeds)
    parallel.configure(2)
    split = network.run(feeds)
    for blob in serial:
        np.testing.assert_array_equal(split[blob], serial[blob], err_msg=blob)
    examples = [torch_zoo.feeds(name, b) for b in batch]
    together = model.predict_batch(examples)
    key = spec.description.predictedProbabilitiesName
    for example, row in zip(examples, together, strict=True):
        assert model.predict(example)[key] == row[key]
