"""Runtime, demo layer: model surgery of the demo: the two personalisable models made from the base
classifier.

* :func:`personalizable_classifier` widens the classifier to ten classes for the user's new
  digits (new weights zero, so the shipped predictions keep their ranking until training
  moves them) and makes the last two layers updatable with cross-entropy, SGD or Adam, and
  every hyperparameter an app may change given a default and its allowed values;
* :func:`knn_pipeline` cuts the network at its penultimate layer into a feature extractor and
  puts an empty updatable k-nearest-neighbours classifier behind it (Apple's updatable
  drawing classifier pattern).
"""

from __future__ import annotations

from runtime.demo.base import EMBEDDING, HEAD, HIDDEN, IMAGE, LABEL
from updatable import proto

HEAD_LAYERS = ("dense1", HEAD)
OPTIMIZERS = ("sgd", "adam")
KNN_NEIGHBORS = 3


def optimizer_settings(optimizer: str) -> dict:
    """The demo's hyperparameters for ``optimizer``: defaults with the values an app may
    choose (ranges chosen to pass the toolkit's plausibility lint as well as Core ML)."""
    from updatable import DoubleParam, IntParam

    batch = IntParam(8, choices=(1, 2, 4, 8, 16, 32))
    if optimizer == "sgd":
        return {
            "learning_rate": DoubleParam(0.05, range=(1e-4, 0.5)),
            "mini_batch_size": batch,
            "momentum": DoubleParam(0.0, range=(0.0, 0.99)),
        }
    if optimizer == "adam":
        return {
            "learning_rate": DoubleParam(0.003, range=(1e-5, 0.1)),
            "mini_batch_size": batch,
            "beta1": DoubleParam(0.9, range=(0.0, 0.999)),
            "beta2": DoubleParam(0.999, range=(0.0, 0.9999)),
            "eps": DoubleParam(1e-8, range=(1e-10, 1e-4)),
        }
    from updatable.errors import ParameterError

    raise ParameterError(f"unknown optimizer {optimizer!r}; choose one of {list(OPTIMIZERS)}")


def personalizable_classifier(
    base: proto.Model, new_labels, optimizer: str = "sgd", epochs: int = 30, seed: int = 0
) -> proto.Model:
    """``base`` widened to ``len(labels) + len(new_labels)`` classes, its last two layers
    updatable (see the module docstring). Epochs default to ``epochs`` from 1..100; the
    training data is shuffled with ``seed``."""
    import updatable
    from updatable import IntParam

    spec = proto.Model()
    spec.CopyFrom(base)
    labels = list(new_labels)
    current = len(spec.neuralNetworkClassifier.stringClassLabels.vector)
    updatable.expand_classifier(spec, HEAD, current + len(labels), labels=labels)
    updatable.make_updatable(spec, HEAD_LAYERS)
    updatable.set_loss(spec, "cross_entropy")
    updatable.set_optimizer(spec, optimizer, **optimizer_settings(optimizer))
    updatable.set_epochs(spec, IntParam(epochs, range=(1, 100)))
    updatable.set_shuffle(spec, True, seed=seed)
    spec.description.metadata.shortDescription = (
        f"Digit classifier for 0..9: the base model widened for {', '.join(labels)}, its "
        f"layers {' and '.join(HEAD_LAYERS)} updatable ({optimizer})"
    )
    return spec


def feature_extractor(base: proto.Model) -> proto.Model:
    """The base network up to its penultimate layer: ``image`` -> ``embedding``
    (multiArray FLOAT32 [64]), a plain neural network."""
    nn = base.neuralNetworkClassifier
    layers = list(nn.layers)
    last = next(i for i, layer in enumerate(layers) if EMBEDDING in layer.output)
    spec = proto.Model(specificationVersion=base.specificationVersion)
    spec.description.input.extend(base.description.input)
    output = spec.description.output.add(name=EMBEDDING)
    output.type.multiArrayType.shape.append(HIDDEN)
    output.type.multiArrayType.dataType = proto.ArrayFeatureType.FLOAT32
    output.shortDescription = "penultimate-layer embedding of the base classifier"
    spec.neuralNetwork.layers.extend(layers[: last + 1])
    spec.neuralNetwork.preprocessing.extend(nn.preprocessing)
    return spec


def knn_pipeline(base: proto.Model, k: int = KNN_NEIGHBORS) -> proto.Model:
    """Feature extractor + an empty updatable kNN (inverse-distance weights, ``k``
    neighbours from 1..10, default label ``"unknown"``), as a pipeline classifier."""
    import updatable
    from updatable import IntParam

    knn = updatable.make_knn_classifier(
        HIDDEN,
        "unknown",
        input_name=EMBEDDING,
        output_name=LABEL,
        number_of_neighbors=IntParam(k, range=(1, 10)),
        weighting_scheme="inverse_distance",
    )
    pipeline = updatable.make_pipeline(feature_extractor(base), knn)
    pipeline.description.metadata.shortDescription = (
        f"Digit classifier: the base network's {HIDDEN}-d embedding of the '{IMAGE}' input "
        f"and an updatable {k}-nearest-neighbours classifier that learns the user's digits"
    )
    return pipeline
