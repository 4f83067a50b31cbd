"""The models the fuzzer mutates: small real models written by coremltools' builders, one of
each kind the runtime runs (networks with each loss and optimizer, a classifier, image inputs,
convolutions and pooling, a regressor, kNN classifiers, pipelines).

Each base is built once per process and copied for every mutant. Keep them small: a mutant
runs a forward pass and a training step, and the suite runs hundreds.
"""

from __future__ import annotations

import functools

import numpy as np

from tests import builders
from updatable import proto


def _knn_with_samples():
    spec = builders.empty_knn(dims=4, default_label="x")
    rng = np.random.default_rng(0)
    index = spec.kNearestNeighborsClassifier.nearestNeighborsIndex
    for i in range(6):
        index.floatSamples.add().vector.extend(rng.standard_normal(4).tolist())
        spec.kNearestNeighborsClassifier.stringClassLabels.vector.append("ab"[i % 2])
    return spec


def _trainable(factory, layers, loss_input):
    def make():
        return builders.make_trainable(factory(), layers, loss_input=loss_input, batch=2)

    return make


# name -> factory of a fresh Model protobuf
BASES = {
    "nn_cce_sgd": lambda: builders.updatable_nn("cce"),
    "nn_mse_adam": lambda: builders.updatable_nn("mse", "adam"),
    "nn_cce_adam": lambda: builders.updatable_nn("cce", "adam"),
    "classifier": builders.updatable_classifier,
    "regressor": builders.regressor_nn,
    "conv_head": _trainable(builders.conv_head_classifier, ["head"], "probs"),
    "fire": _trainable(builders.fire_net, ["head"], "probs"),
    "mnist_image": builders.updatable_mnist_example,
    "knn_empty": lambda: builders.empty_knn(dims=4),
    "knn_samples": _knn_with_samples,
    "knn_kdtree": lambda: builders.named_knn("input", "output", 3, "x", index_type="kd_tree"),
    "drawing_pipeline": builders.tiny_drawing_pipeline,
    "nn_head_pipeline": builders.nn_head_pipeline,
}


@functools.cache
def base_bytes(name: str) -> bytes:
    """The serialized base (built once per process)."""
    return BASES[name]().SerializeToString()


def fresh(name: str) -> proto.Model:
    """A new copy of base ``name`` to mutate."""
    return proto.Model.FromString(base_bytes(name))
