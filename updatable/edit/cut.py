"""Spec side, editing layer: cut a neural network at a blob, so that any classifier becomes the
feature extractor in front of a kNN classifier or a new head.

``feature_extractor(spec, at=...)`` keeps the layers the blob depends on (Core ML links each
input to the last earlier producer of the blob), the inputs they read and the image
preprocessing of those inputs, and declares the blob as the one output: a FLOAT32 multiArray
whose shape is left to the network (a declared output may omit its shape; Core ML and the
runtime give it the tensor's shape). The result is a plain ``neuralNetwork``: classifier
labels, training inputs, losses and updatable flags belong to the old head and are dropped.
"""

from __future__ import annotations

from typing import Any

from updatable import proto
from updatable.errors import LayerNotFoundError, UnsupportedModelError
from updatable.spec import (
    NEURAL_NETWORK_TYPES,
    PIPELINE_TYPES,
    model_type,
    network,
    weight_params,
)

_KEPT_NETWORK_FIELDS = ("arrayInputShapeMapping", "imageInputShapeMapping")


def feature_extractor(
    spec: proto.Model, at: str, *, output: str | None = None, shapes: Any = None
) -> proto.Model:
    """A new model computing blob ``at`` (or the first output of the layer called ``at``)
    from ``spec``'s inputs; ``spec`` is not changed.

    Args:
        spec: a neural network, classifier or regressor.
        at: a blob name, or a layer name (its first output).
        output: the output feature's name (default: the blob's name).
        shapes: ``shapes(spec)`` -> blob name -> Core ML shape, as for ``updatable.repair``
            (``runtime.tools.equivalence.blob_shapes``): the blob's shape is then declared on
            the output, which a model reading the features (a kNN in a pipeline) needs. A
            rank-5 network declares ``[C]`` or ``[C, H, W]``, an N-D one the shape itself.
            Without it the output's shape is left to the network.

    Raises:
        LayerNotFoundError: no layer or blob is called ``at`` (the error lists the blobs).
        UnsupportedModelError: ``spec`` is not a neural network (a pipeline: cut its model).
    """
    kind = model_type(spec)
    if kind not in NEURAL_NETWORK_TYPES:
        raise UnsupportedModelError(
            f"feature_extractor cuts a neural network; the model is {kind or 'of no type'}"
            + (
                ": cut the network inside the pipeline and rebuild the pipeline around it "
                "(updatable.make_pipeline)"
                if kind in PIPELINE_TYPES
                else ""
            )
        )
    nn = network(spec)
    layers = list(nn.layers)
    blob = _blob(layers, at)
    producer = max(i for i, layer in enumerate(layers) if blob in layer.output)
    needed = _needed(layers, producer)
    read = {b for i in needed for b in layers[i].input}
    name = output or blob

    cut = proto.Model(specificationVersion=spec.specificationVersion)
    for feature in spec.description.input:
        if feature.name in read:
            cut.description.input.add().CopyFrom(feature)
    described = cut.description.output.add(name=name)
    described.type.multiArrayType.dataType = proto.ArrayFeatureType.FLOAT32
    if shapes is not None:
        described.type.multiArrayType.shape.extend(_declared(list(shapes(spec)[blob]), nn))
    described.shortDescription = f"the values of '{blob}' in {_title(spec)}"
    target = cut.neuralNetwork
    for field in _KEPT_NETWORK_FIELDS:
        setattr(target, field, getattr(nn, field))
    for preprocessing in nn.preprocessing:
        if not preprocessing.featureName or preprocessing.featureName in read:
            target.preprocessing.add().CopyFrom(preprocessing)
    for index in sorted(needed):
        layer = target.layers.add()
        layer.CopyFrom(layers[index])
        layer.isUpdatable = False
        for _, weights in weight_params(layer):
            weights.isUpdatable = False
    if name != blob:
        last = target.layers[-1]
        last.output[list(last.output).index(blob)] = name
    return cut


def _declared(shape: list[int], nn: Any) -> list[int]:
    if nn.arrayInputShapeMapping == proto.NeuralNetwork_pb2.EXACT_ARRAY_MAPPING:
        return shape
    chw = [1, 1, 1, *shape][-3:]
    return chw[:1] if chw[1:] == [1, 1] else chw


def _blob(layers: Any, at: str) -> str:
    produced = [b for layer in layers for b in layer.output]
    if at in produced:
        return at
    for layer in layers:
        if layer.name == at and layer.output:
            return str(layer.output[0])
    raise LayerNotFoundError(
        f"no blob or layer named '{at}'; the network's blobs are: {list(dict.fromkeys(produced))}"
    )


def _needed(layers: Any, last: int) -> set[int]:
    """``last`` and every earlier layer it depends on (each input links to the last earlier
    producer of that blob)."""
    needed, pending = set(), [last]
    while pending:
        index = pending.pop()
        if index in needed:
            continue
        needed.add(index)
        for blob in layers[index].input:
            sources = [i for i in range(index) if blob in layers[i].output]
            if sources:
                pending.append(max(sources))
    return needed


def _title(spec: Any) -> str:
    return spec.description.metadata.shortDescription or "the original model"
