"""Runtime, sweeps layer: how a sweep's examples become the feature dicts a model trains and
predicts on.

:func:`feed_plan` reads the model once (in the coordinating process) and fixes: the one input
the examples feed (a multiArray gets each example reshaped to its declared shape, an image gets
``(H, W[, C])`` pixels), and every feature name that may carry the label for training (the
training inputs besides the model input, the predicted feature names, the loss target), each
with its Core ML type, so that ``3`` becomes ``"3"`` for a classifier with String labels.
Mismatches are reported before any task runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runtime.sweeps.examples import Examples
from updatable import proto
from updatable.edit.nested import KNN_TYPES, locate
from updatable.errors import SweepError
from updatable.spec import NEURAL_NETWORK_TYPES, model_type, network

CROSS_ENTROPY = "categoricalCrossEntropyLossLayer"


@dataclass(frozen=True)
class FeedPlan:
    """Where example inputs and labels go (see the module docstring).

    ``targets`` pairs each label feature name with ``"string"``, ``"int64"`` or ``"array"``;
    ``loss`` is the trainable network's loss layer type, ``None`` for a kNN head.
    """

    input_name: str
    input_shape: tuple[int, ...]
    targets: tuple[tuple[str, str], ...]
    head: str
    loss: str | None

    @property
    def has_accuracy(self) -> bool:
        return self.loss in (None, CROSS_ENTROPY)

    def example(self, x: np.ndarray, y) -> dict:
        """One feature dict: the input in its model shape, the label under every target name."""
        features = {self.input_name: np.asarray(x, dtype=np.float32).reshape(self.input_shape)}
        for name, kind in self.targets:
            features[name] = label_value(kind, y)
        return features

    def label(self, y):
        """The label as the model's predicted feature reports it (for accuracy)."""
        return label_value(self.targets[0][1], y)


def label_value(kind: str, y):
    if kind == "string":
        return y.decode() if isinstance(y, bytes) else str(y.item() if hasattr(y, "item") else y)
    if kind == "int64":
        return int(y)
    return np.asarray(y, dtype=np.float32).reshape(-1)


def feed_plan(spec: proto.Model, examples: Examples) -> FeedPlan:
    """Plan the feeding of ``examples`` into ``spec``.

    Raises:
        SweepError: the model has more than one required input, an example's size does not
            fit the input, or the data has labels the classifier does not know.
    """
    head, _ = locate(spec, NEURAL_NETWORK_TYPES + KNN_TYPES, "sweep")
    description = spec.description
    inputs = [f for f in description.input if not f.type.isOptional]
    if len(inputs) != 1:
        raise SweepError(
            f"a sweep feeds one input per example; the model has {len(inputs)} required "
            f"inputs: {[f.name for f in inputs]}"
        )
    feature = inputs[0]
    shape = _input_shape(feature)
    per_example = examples.x.shape[1:]
    if int(np.prod(per_example)) != int(np.prod(shape)):
        raise SweepError(
            f"data {examples.name}: each example has shape {per_example} "
            f"({int(np.prod(per_example))} values) but the model's input '{feature.name}' takes "
            f"{_describe(feature)} ({int(np.prod(shape))} values)"
        )
    loss = None
    if model_type(head) in NEURAL_NETWORK_TYPES:
        layers = network(head).updateParams.lossLayers
        loss = layers[0].WhichOneof("LossLayerType") if layers else None
    targets = _targets(spec, head, feature.name, loss)
    plan = FeedPlan(feature.name, shape, targets, model_type(head), loss)
    _check_labels(plan, head, examples)
    return plan


def _input_shape(feature) -> tuple[int, ...]:
    kind = feature.type.WhichOneof("Type")
    if kind == "multiArrayType":
        return tuple(int(d) for d in feature.type.multiArrayType.shape)
    if kind == "imageType":
        image = feature.type.imageType
        gray = image.colorSpace == proto.ImageFeatureType.GRAYSCALE
        size = (int(image.height), int(image.width))
        return size if gray else (*size, 3)
    raise SweepError(
        f"the model's input '{feature.name}' is {kind}; a sweep feeds multiArray or image inputs"
    )


def _describe(feature) -> str:
    from runtime.model.features import type_name

    return type_name(feature)


def _targets(spec, head, input_name: str, loss: str | None) -> tuple[tuple[str, str], ...]:
    """Label feature names in order of preference, each with its type."""
    described: dict[str, proto.FeatureDescription] = {}
    for source in (
        spec.description.trainingInput,
        head.description.trainingInput,
        spec.description.output,
        head.description.output,
    ):
        for f in source:
            described.setdefault(f.name, f)
    names = [f.name for f in spec.description.trainingInput if f.name != input_name]
    names += [spec.description.predictedFeatureName, head.description.predictedFeatureName]
    if loss is not None and model_type(head) != "neuralNetworkClassifier":
        # a classifier trains on its labels; others read the loss target (an index or array)
        layer = network(head).updateParams.lossLayers[0]
        names.append(getattr(layer, layer.WhichOneof("LossLayerType")).target)
    ordered = list(dict.fromkeys(n for n in names if n and n != input_name))
    if not ordered:
        raise SweepError(
            "the model declares no training label (trainingInput or predicted "
            "feature); a sweep cannot tell where labels go"
        )
    kinds = {"stringType": "string", "int64Type": "int64"}
    return tuple(
        (
            name,
            kinds.get(described[name].type.WhichOneof("Type"), "array")
            if name in described
            else "array",
        )
        for name in ordered
    )


def _check_labels(plan: FeedPlan, head, examples: Examples) -> None:
    if plan.loss is not None and plan.loss != CROSS_ENTROPY:
        return  # regression targets: nothing to match
    if not examples.is_classification:
        raise SweepError(
            f"data {examples.name}: a classifier needs one integer or string label per "
            f"example; y holds {examples.y.dtype} values of shape {examples.y.shape}"
        )
    if model_type(head) != "neuralNetworkClassifier":
        return  # a kNN stores whatever labels it is given
    classifier = head.neuralNetworkClassifier
    which = classifier.WhichOneof("ClassLabels")
    known = list(getattr(classifier, which).vector) if which else []
    kind = "string" if which == "stringClassLabels" else "int64"
    unknown = sorted({label_value(kind, y) for y in np.unique(examples.y)} - set(known), key=str)
    if unknown:
        raise SweepError(
            f"data {examples.name} has labels the classifier does not know: {unknown[:10]}; "
            f"its labels are {known[:20]}"
        )
