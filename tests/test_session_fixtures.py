"""Models, data and helpers shared by the training-job tests (no tests of its own).

The model is the small updatable MNIST network written by coremltools' builder: two frozen
convolutions (the part the feature cache skips) under two updatable dense layers, shuffled
with a seed so Core ML's epoch orders apply. The data are real MNIST digits.
"""

from __future__ import annotations

import numpy as np

import runtime
import updatable
from runtime.training.providers import ArrayBatchProvider, BatchProvider
from tests import builders
from tests.digits import mnist_digits

TRAINED = ("dense_1", "dense_2")
SEED = 7


def mnist_model(optimizer: str = "sgd", lr: float = 0.05, batch: int = 8, seed: int = SEED):
    spec = builders.updatable_mnist(optimizer=optimizer, lr=lr, batch=batch, epochs=5)
    updatable.set_shuffle(spec, True, seed=seed)
    return spec


def digits(count: int, seed: int) -> tuple[np.ndarray, list[str]]:
    x, y = mnist_digits(count, seed=seed)
    return (x / 255.0).astype(np.float32), [str(int(v)) for v in y]


def provider(count: int = 36, seed: int = 1) -> ArrayBatchProvider:
    x, labels = digits(count, seed)
    return ArrayBatchProvider({"image": x, "digit": labels})


class Augmenting(BatchProvider):
    """Random horizontal flips and pixel noise drawn on every call: each fetch is new bytes."""

    def __init__(self, count: int = 24, seed: int = 1, rng_seed: int = 0):
        self.x, self.labels = digits(count, seed)
        self.rng = np.random.default_rng(rng_seed)
        self.calls = 0

    @property
    def count(self) -> int:
        return len(self.x)

    def features(self, index):
        self.calls += 1
        image = self.x[index]
        if self.rng.random() < 0.5:
            image = image[..., ::-1]
        noise = self.rng.normal(0.0, 0.01, image.shape).astype(np.float32)
        return {"image": image + noise, "digit": self.labels[index]}


def weights_of(spec) -> dict[str, np.ndarray]:
    """The trained layers' weights and biases as read back from a protobuf."""
    layers = {layer.name: layer for layer in spec.neuralNetworkClassifier.layers}
    out = {}
    for name in TRAINED:
        params = layers[name].innerProduct
        out[f"{name}/weights"] = np.asarray(params.weights.floatValue, np.float32)
        out[f"{name}/bias"] = np.asarray(params.bias.floatValue, np.float32)
    return out


def assert_same_weights(a, b) -> None:
    wa, wb = weights_of(a), weights_of(b)
    for key in wa:
        np.testing.assert_array_equal(wa[key], wb[key], err_msg=key)


def session(directory, **kwargs) -> runtime.TrainingSessionParameters:
    kwargs.setdefault("report_interval", 1)
    kwargs.setdefault("checkpoint_interval", 3)
    kwargs.setdefault("iterations", 6)
    return runtime.TrainingSessionParameters(directory, **kwargs)


def run(spec, data, validation=None, params=None, **kwargs):
    """Train to the end; returns ``(result, events)`` with every event the iterator gave."""
    job = runtime.train(spec, data, validation, session_parameters=params, **kwargs)
    events = list(job)
    return events[-1], events[:-1]


def training_reports(events) -> list:
    return [
        e for e in events if isinstance(e, runtime.Progress) and e.phase == runtime.Phase.TRAINING
    ]
