"""Feature values made from a model's description, for a forward pass and a training step.

A mutated description may declare sizes no test should allocate, or negative ones. For a
multiArray the harness then gives a small array of another shape (``WRONG_SHAPE``): the
runtime must refuse it, or run if it never needed that shape (a kNN reads its own
dimensions). An image over ``MAX_VALUES`` pixels raises :class:`TooLarge` (the oracle reports
it apart; the runtime is expected to refuse such a model at load, before any value).
"""

from __future__ import annotations

import numpy as np

from updatable import proto

MAX_VALUES = 1 << 22  # 16 MB of float32 per value
WRONG_SHAPE = (2,)  # given for a multiArray whose declared size cannot be built


class TooLarge(Exception):
    """A declared feature too large for the harness to build a value for."""


def _array_shape(array_type) -> tuple[int, ...]:
    shape = [int(d) for d in array_type.shape]
    if not shape and array_type.WhichOneof("ShapeFlexibility") == "enumeratedShapes":
        shapes = array_type.enumeratedShapes.shapes
        shape = [int(d) for d in shapes[0].shape] if shapes else []
    if not shape and array_type.WhichOneof("ShapeFlexibility") == "shapeRange":
        shape = [max(1, int(r.lowerBound)) for r in array_type.shapeRange.sizeRanges]
    return tuple(shape) or (1,)


def _checked_size(shape) -> None:
    size = 1
    for d in shape:
        size *= max(int(d), 0)
    if size > MAX_VALUES or any(int(d) < 0 for d in shape):
        raise TooLarge(f"a value of shape {list(shape)}")


def value_for(feature, rng: np.random.Generator, labels=None):
    """A value of ``feature``'s declared type (``labels``: class labels to pick a target
    from)."""
    kind = feature.type.WhichOneof("Type")
    if kind == "multiArrayType":
        shape = _array_shape(feature.type.multiArrayType)
        try:
            _checked_size(shape)
        except TooLarge:
            shape = WRONG_SHAPE
        if feature.type.multiArrayType.dataType == proto.ArrayFeatureType.INT32:
            return np.zeros(shape, dtype=np.int32)  # a class index (a cross-entropy target)
        return rng.standard_normal(shape).astype(np.float32)
    if kind == "imageType":
        image = feature.type.imageType
        height, width = int(image.height), int(image.width)
        gray = image.colorSpace == proto.FeatureTypes_pb2.ImageFeatureType.GRAYSCALE
        shape = (height, width) if gray else (height, width, 3)
        _checked_size(shape)
        return rng.integers(0, 256, shape).astype(np.uint8)
    if kind == "stringType":
        return str(labels[0]) if labels else "a"
    if kind == "int64Type":
        return int(labels[0]) if labels else 0
    if kind == "doubleType":
        return float(rng.standard_normal())
    if kind == "dictionaryType":
        key = feature.type.dictionaryType.WhichOneof("KeyType")
        return {("a" if key == "stringKeyType" else 1): 1.0}
    raise TooLarge(f"a feature of type {kind!r}")  # no value the harness knows how to make


def class_labels(spec) -> list | None:
    """The class labels of the model that trains (a classifier's, a kNN's), if any."""
    model = spec
    while model.WhichOneof("Type") in ("pipeline", "pipelineClassifier", "pipelineRegressor"):
        models = getattr(model, model.WhichOneof("Type")).pipeline.models
        if not models:
            return None
        model = models[-1]
    kind = model.WhichOneof("Type")
    if kind in ("neuralNetworkClassifier", "kNearestNeighborsClassifier"):
        holder = getattr(model, kind)
        which = holder.WhichOneof("ClassLabels")
        if which:
            values = list(getattr(holder, which).vector)
            return values or None
    return None


def prediction_inputs(spec, rng, count: int = 2) -> list[dict]:
    """``count`` examples of the model's (non-optional) inputs."""
    features = [f for f in spec.description.input if not f.type.isOptional]
    return [{f.name: value_for(f, rng) for f in features} for _ in range(count)]


def training_examples(spec, rng, count: int = 2) -> list[dict]:
    """``count`` examples of the model's training inputs (inputs and targets)."""
    labels = class_labels(spec)
    inputs = {f.name for f in spec.description.input}
    examples = []
    for _ in range(count):
        example = {}
        for feature in spec.description.trainingInput:
            is_target = feature.name not in inputs
            example[feature.name] = value_for(feature, rng, labels if is_target else None)
        examples.append(example)
    return examples
