"""Spec side, editing layer: the loss layer of an updatable neural network, and the training inputs
it implies.

Core ML trains with exactly one loss (``NetworkUpdateParameters.lossLayers``, rule C1):

* categorical cross-entropy ``L = -log(p[target])`` on the output of a ``softmax`` layer
  (rule C4), whose target is a class index;
* mean squared error ``L = mean((x - target)^2)`` on any blob a layer produces (rule C6).

The target is a new feature named ``<input>_true`` that no layer may produce (C5, C7), and
the model's ``trainingInput`` must list the model inputs plus that target (rules D1-D5).
"""

from __future__ import annotations

import numbers
from typing import Any

from updatable import proto
from updatable.edit.nested import locate
from updatable.errors import ArgumentNeededError, ParameterError, SurgeryError
from updatable.spec import NEURAL_NETWORK_TYPES, layer_kind, network

# accepted spellings -> canonical loss name
LOSS_NAMES = {
    "cross_entropy": "cross_entropy",
    "cross-entropy": "cross_entropy",
    "categorical_cross_entropy": "cross_entropy",
    "cce": "cross_entropy",
    "mse": "mse",
    "mean_squared_error": "mse",
}
# canonical loss name -> LossLayer oneof case
_LOSS_FIELDS = {
    "cross_entropy": "categoricalCrossEntropyLossLayer",
    "mse": "meanSquaredErrorLossLayer",
}


def set_loss(
    spec: proto.Model,
    loss: str = "cross_entropy",
    *,
    input: str | None = None,
    name: str = "lossLayer",
    shape: tuple[int, ...] | None = None,
) -> proto.Model:
    """Give the network its one loss layer and write the matching ``trainingInput``.

    Args:
        spec: a neural network (classifier, regressor) or a pipeline ending in one.
        loss: ``"cross_entropy"`` or ``"mse"`` (also ``"cross-entropy"``, ``"cce"``,
            ``"mean_squared_error"``).
        input: the blob the loss reads. By default, for cross-entropy the classifier's
            probability blob or the network's only softmax output; for MSE the only model
            output produced by a layer.
        name: the loss layer's name; it must differ from every layer name (rule B1).
        shape: the MSE target shape; by default the declared shape of the output ``input``.

    The target is ``<input>_true`` (coremltools' convention). ``trainingInput`` becomes exact
    copies of the model inputs plus one target entry:

    * cross-entropy on a classifier's probabilities: the ``predictedFeatureName`` label with the
      classifier's String or Int64 type (Core ML maps the label to its class index);
    * other cross-entropy: ``<input>_true``, multiArray INT32 ``[1]`` (a class index);
    * MSE: ``<input>_true``, multiArray DOUBLE of ``shape`` (as coremltools writes it).

    An existing loss is replaced and existing training inputs are rebuilt, never duplicated.
    In a pipeline each enclosing pipeline gets the same treatment for its own inputs.

    Returns:
        ``spec``, modified in place; nothing changes if an argument is refused.
    """
    kind = LOSS_NAMES.get(loss) if isinstance(loss, str) else None
    if kind is None:
        raise ParameterError(f"unknown loss {loss!r}; choose one of {sorted(set(LOSS_NAMES))}")
    model, pipelines = locate(spec, NEURAL_NETWORK_TYPES, "set_loss")
    nn = network(model)
    producers = {}  # blob -> last layer that writes it (Core ML links to the last producer)
    for layer in nn.layers:
        for blob in layer.output:
            producers[blob] = layer
    if input is None:
        input = _default_input(model, nn, producers, kind)
    _check_input(model, producers, kind, input)
    target = f"{input}_true"
    _check_target(model, producers, target)
    layer_names = [layer.name for layer in nn.layers]
    if not isinstance(name, str) or not name:
        raise ParameterError(f"the loss layer name must be a non-empty string; got {name!r}")
    if name in layer_names:
        raise SurgeryError(
            f"loss layer name '{name}' is already a layer name; Core ML needs unique names "
            "(rule B1): choose another name"
        )
    entry = _target_entry(model, kind, input, target, shape)

    nn.updateParams.ClearField("lossLayers")
    loss_layer = nn.updateParams.lossLayers.add(name=name)
    fields = getattr(loss_layer, _LOSS_FIELDS[kind])
    fields.input, fields.target = input, target
    for holder in [*pipelines, model]:
        _write_training_inputs(holder, entry)
    return spec


def _default_input(
    model: proto.Model, nn: proto.Message, producers: dict[str, proto.NeuralNetworkLayer], kind: Any
) -> str:
    outputs = [feature.name for feature in model.description.output]
    if kind == "cross_entropy":
        probs = _probability_blob(model, nn)
        if probs and _is_softmax_output(producers, probs):
            return probs
        candidates = [b for b in producers if _is_softmax_output(producers, b)]
        preferred = [b for b in candidates if b in outputs] or candidates
        what = "softmax outputs"
    else:
        arrays = [
            f.name for f in model.description.output if _declared_shape(model.description, f.name)
        ]
        preferred = [b for b in arrays if b in producers]
        what = "multiArray model outputs produced by a layer"
    if len(preferred) != 1:
        raise ArgumentNeededError(
            f"cannot choose the loss input: the network has {len(preferred)} {what} {preferred}",
            "input",
            "<blob name>",
        )
    return preferred[0]


def _probability_blob(model: proto.Model, nn: proto.Message) -> str:
    if model.WhichOneof("Type") != "neuralNetworkClassifier":
        return ""
    return str(nn.labelProbabilityLayerName or model.description.predictedProbabilitiesName)


def _is_softmax_output(producers: dict[str, proto.NeuralNetworkLayer], blob: Any) -> bool:
    layer = producers.get(blob)
    # Rule C4: the producer is a `softmax` (softmaxND does not count) and `blob` is its first
    # output.
    return layer is not None and layer_kind(layer) == "softmax" and layer.output[0] == blob


def _check_input(
    model: proto.Model, producers: dict[str, proto.NeuralNetworkLayer], kind: Any, blob: Any
) -> None:
    if not isinstance(blob, str) or not blob:
        raise ParameterError(f"the loss input must be a blob name; got {blob!r}")
    softmax_outputs = [b for b in producers if _is_softmax_output(producers, b)]
    if kind == "cross_entropy" and not _is_softmax_output(producers, blob):
        if blob in producers:
            found = f"produced by '{producers[blob].name}' ({layer_kind(producers[blob])})"
        elif blob in [feature.name for feature in model.description.input]:
            found = "a model input"
        else:
            found = "not produced by any layer"
        raise SurgeryError(
            f"cross-entropy input '{blob}' must be the output of a softmax layer (Core ML rule "
            f"C4), but it is {found}; softmax outputs: {softmax_outputs}"
        )
    if kind == "mse" and blob not in producers:
        raise SurgeryError(
            f"MSE input '{blob}' is not produced by any layer (Core ML rule C6); produced "
            f"blobs: {list(producers)}"
        )


def _check_target(
    model: proto.Model, producers: dict[str, proto.NeuralNetworkLayer], target: Any
) -> None:
    taken = {
        "a blob produced by a layer": set(producers),
        "a model input": {feature.name for feature in model.description.input},
        "a model output": {feature.name for feature in model.description.output},
    }
    for what, names in taken.items():
        if target in names:
            raise SurgeryError(
                f"the loss target '{target}' is already {what}; the target must be a new "
                "feature that only the training data provides (Core ML rules C5, C7)"
            )


def _target_entry(
    model: proto.Model, kind: Any, blob: Any, target: Any, shape: Any
) -> proto.FeatureDescription:
    entry = proto.FeatureDescription(name=target)
    description = model.description
    if kind == "cross_entropy":
        if shape is not None:
            raise ParameterError(
                "shape applies to the MSE loss only; cross-entropy targets are [1]"
            )
        label = description.predictedFeatureName
        label_outputs = [f for f in description.output if f.name == label]
        if blob == _probability_blob(model, network(model)) and label and label_outputs:
            # Core ML maps a classifier label to its class index (NeuralNetwork.proto), so the
            # training data supplies the label itself, typed like the classifier's output.
            entry.name = label
            entry.type.CopyFrom(label_outputs[0].type)
            return entry
        entry.type.multiArrayType.shape.append(1)
        entry.type.multiArrayType.dataType = proto.ArrayFeatureType.INT32
        return entry
    declared = _declared_shape(description, blob)
    if shape is None:
        if declared is None:
            raise ArgumentNeededError(
                f"MSE input '{blob}' is not a model output with a declared shape", "shape", "(...)"
            )
        shape = declared
    if (
        isinstance(shape, (str, bytes))
        or not hasattr(shape, "__iter__")
        or not shape
        or not all(isinstance(d, numbers.Integral) and not isinstance(d, bool) for d in shape)
        or min(shape) <= 0
    ):
        raise ParameterError(f"the MSE target shape must be positive integers; got {shape!r}")
    shape = [int(d) for d in shape]
    if declared is not None and declared != shape:
        raise SurgeryError(
            f"MSE target shape {shape} differs from output '{blob}' shape {declared}"
        )
    entry.type.multiArrayType.shape.extend(shape)
    # coremltools declares MSE targets as DOUBLE whatever the output's dtype.
    entry.type.multiArrayType.dataType = proto.ArrayFeatureType.DOUBLE
    return entry


def _declared_shape(description: proto.ModelDescription, blob: Any) -> list[int] | None:
    for feature in description.output:
        if feature.name == blob and feature.type.WhichOneof("Type") == "multiArrayType":
            shape = list(feature.type.multiArrayType.shape)
            return shape or None
    return None


def _write_training_inputs(model: proto.Model, target: proto.FeatureDescription) -> None:
    """``trainingInput`` = copies of the model inputs, then ``target``; descriptions kept."""
    description = model.description
    notes = {old.name: old.shortDescription for old in description.trainingInput}
    entries = [*description.input, target]
    description.ClearField("trainingInput")
    for entry in entries:
        added = description.trainingInput.add()
        added.CopyFrom(entry)
        if not added.shortDescription and notes.get(added.name):
            added.shortDescription = notes[added.name]
