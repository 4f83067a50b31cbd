"""Spec side, editing layer: mark layers of a neural network updatable, as Core ML's update tasks
expect.

The other edits live beside this one: the loss in :mod:`updatable.edit.loss`, optimizer, epochs and
shuffle in :mod:`updatable.edit.training_config`, widening and re-initialising a classifier layer in
:mod:`updatable.edit.classifier`. All are importable from ``updatable``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from updatable import proto
from updatable.edit.nested import check_only_last_updatable, locate, mark_updatable
from updatable.errors import LayerNotFoundError, SurgeryError, UnsupportedLayerError
from updatable.spec import NEURAL_NETWORK_TYPES, layer_kind, network, weight_params

# Core ML can update convolution and innerProduct weights, and since Core ML 5 (iOS 15;
# UpdatableNeuralNetworkValidator.cpp, coremltools 5.0b1) uniDirectionalLSTM weights, with no
# weight checks; the validator's lint (X3) warns that older devices refuse an updatable LSTM.
UPDATABLE_KINDS = ("convolution", "innerProduct", "uniDirectionalLSTM")

# Core ML's minimum specification version for updatable models (coremltools
# _MINIMUM_UPDATABLE_SPEC_VERSION).
MIN_UPDATABLE_VERSION = 4


def make_updatable(
    spec: proto.Model, layers: Iterable[str] | str, *, replace: bool = False
) -> proto.Model:
    """Mark ``layers`` and their weights updatable and the model ``isUpdatable``.

    For each named layer this sets ``NeuralNetworkLayer.isUpdatable`` and ``isUpdatable`` on
    every ``WeightParams`` it stores (weights, and bias when present), found by walking the
    layer's descriptor. The model gets ``isUpdatable`` and ``specificationVersion >= 4``;
    shuffling is switched on unless the model already says otherwise (coremltools'
    ``make_updatable`` does the same, but also overwrites an explicit "off"). Layers marked
    before stay marked, unless ``replace``: then ``layers`` become the only updatable layers
    (every other layer and its weights are unmarked), so the model trains exactly them.

    ``spec`` may be a neural network, classifier or regressor, or a pipeline whose last model is
    one (nested pipelines included): then every enclosing pipeline is made updatable and raised
    to version 4 too.

    Checks, all before anything changes:

    * every name exists (the error lists the layers that do);
    * every layer is a ``convolution`` or ``innerProduct`` with stored float weights, or a
      ``uniDirectionalLSTM`` (Core ML 5 and later; the lint warns, X3);
    * no layer anywhere in the network stores FP16 weights (``float16Value``): coremltools
      refuses these because Core ML compiles such a network to a full FP16 model that cannot
      be updated, but it only inspects the first layer;
    * no updatable layer has quantized weights or bias (Core ML rule A2);
    * in a pipeline, no model other than the last is updatable (rule P1).

    Returns:
        ``spec``, modified in place.
    """
    names = [layers] if isinstance(layers, str) else list(layers)
    if not names or not all(isinstance(name, str) and name for name in names):
        raise SurgeryError(
            f"make_updatable expects a non-empty list of layer names; got {layers!r}"
        )
    model, pipelines = locate(spec, NEURAL_NETWORK_TYPES, "make_updatable")
    check_only_last_updatable(pipelines)
    nn = network(model)
    by_name = {layer.name: layer for layer in nn.layers}
    missing = [name for name in names if name not in by_name]
    if missing:
        raise LayerNotFoundError(
            f"no layer named {_quoted(missing)}; the network's layers are: {list(by_name)}"
        )
    chosen = [by_name[name] for name in dict.fromkeys(names)]
    for layer in chosen:
        _check_can_update(layer)
    fp16 = [layer.name for layer in all_layers(nn) if _has_fp16(layer)]
    if fp16:
        raise SurgeryError(
            f"layer(s) {fp16} store FP16 weights (float16Value); Core ML compiles a network with "
            "FP16 weights to a full FP16 model, which cannot be updatable. Convert the weights to "
            "float32, or split the model into a pipeline whose updatable last model has none"
        )

    mark_updatable(model, pipelines, MIN_UPDATABLE_VERSION)
    if not nn.updateParams.HasField("shuffle"):
        nn.updateParams.shuffle.defaultValue = True
    if replace:
        for layer in all_layers(nn):
            layer.isUpdatable = False
            for weights in _weight_messages(getattr(layer, layer_kind(layer))):
                weights.isUpdatable = False
    for layer in chosen:
        layer.isUpdatable = True
        for weights in _weight_messages(getattr(layer, layer_kind(layer))):
            weights.isUpdatable = True  # an LSTM's sit one message further in
    return spec


def updatable_layers(spec: proto.Model) -> list[str]:
    """Names of the layers marked updatable in ``spec``'s network (the last model of a
    pipeline), in network order."""
    model, _ = locate(spec, NEURAL_NETWORK_TYPES, "updatable_layers")
    return [str(layer.name) for layer in all_layers(network(model)) if layer.isUpdatable]


def all_layers(nn: proto.Message) -> Iterator[Any]:
    """Every layer of ``nn``, including those of networks nested in branch and loop layers."""
    for layer in nn.layers:
        yield layer
        for nested in _nested_networks(getattr(layer, layer_kind(layer))):
            yield from all_layers(nested)


def _nested_networks(message: proto.Message) -> Iterator[Any]:
    for field in message.DESCRIPTOR.fields:
        if field.message_type is not None and field.message_type.name == "NeuralNetwork":
            if message.HasField(field.name):
                yield getattr(message, field.name)


def _weight_messages(message: proto.Message) -> Iterator[Any]:
    """Every ``WeightParams`` inside ``message``, at any depth (LSTM weights are two levels in)."""
    for field, value in message.ListFields():
        if field.message_type is None or field.message_type.name == "NeuralNetwork":
            continue  # nested networks are walked layer by layer by all_layers
        values = value if _is_repeated(field) else [value]
        for item in values:
            if field.message_type.name == "WeightParams":
                yield item
            else:
                yield from _weight_messages(item)


def _has_fp16(layer: proto.NeuralNetworkLayer) -> bool:
    kind = layer_kind(layer)
    return bool(kind) and any(w.float16Value for w in _weight_messages(getattr(layer, kind)))


def _check_can_update(layer: proto.NeuralNetworkLayer) -> None:
    kind = layer_kind(layer)
    if kind not in UPDATABLE_KINDS:
        raise UnsupportedLayerError(
            f"layer '{layer.name}' has kind '{kind}'; only {list(UPDATABLE_KINDS)} layers can "
            "be updatable"
        )
    params = getattr(layer, kind)
    if kind == "uniDirectionalLSTM":
        if not params.HasField("weightParams"):
            raise UnsupportedLayerError(f"layer '{layer.name}' has no stored LSTM weights")
        return
    if not params.HasField("weights"):
        raise UnsupportedLayerError(
            f"layer '{layer.name}' has no stored weights (they come from a second input), so "
            "Core ML has nothing to update"
        )
    stored = dict(weight_params(layer))
    quantized = [
        field
        for field, weights in stored.items()
        if weights.HasField("quantization") or len(weights.int8RawValue) > 0
    ]
    if quantized:
        raise UnsupportedLayerError(
            f"layer '{layer.name}' has quantized {' and '.join(quantized)}; Core ML cannot update "
            "quantized weights: dequantize the layer to float32 first"
        )


def _is_repeated(field: Any) -> bool:
    if hasattr(field, "is_repeated"):
        return bool(field.is_repeated)
    return bool(field.label == field.LABEL_REPEATED)


def _quoted(names: list[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)
