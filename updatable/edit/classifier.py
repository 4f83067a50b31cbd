"""Spec side, editing layer: widen a classifier for user-defined classes, and re-initialise a
layer's weights.

Personalisation apps ship a classifier with room for classes the user adds later: the final
layer gets extra outputs whose weights start at zero (so the shipped predictions keep their
ranking until training moves them) and placeholder labels the app maps to the user's names.
A "brainwashed" variant instead re-initialises the head, so on-device training starts fresh.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from updatable import proto
from updatable.edit.nested import locate
from updatable.errors import ParameterError, SurgeryError, UnsupportedLayerError
from updatable.params import as_int64
from updatable.spec import NEURAL_NETWORK_TYPES, find_layer, layer_kind, network

# layers between the widened layer and the softmax that keep the class axis as it is
_WIDTH_PRESERVING = ("activation", "flatten", "pooling")
SCHEMES = ("kaiming_uniform", "zeros")


def classifier_head(spec: proto.Model) -> str:
    """The name of the innerProduct / convolution layer whose outputs feed the classifier's
    softmax (through activations or a flatten), i.e. the layer ``expand_classifier`` widens."""
    model, _ = locate(spec, ("neuralNetworkClassifier",), "classifier_head")
    nn = network(model)
    producers = {blob: layer for layer in nn.layers for blob in layer.output}
    layer = producers.get(_probability_blob(model, nn))
    if layer is not None and layer_kind(layer) == "softmax":
        layer = producers.get(layer.input[0])
        while layer is not None and layer_kind(layer) in _WIDTH_PRESERVING:
            layer = producers.get(layer.input[0])
        if layer is not None and layer_kind(layer) in ("innerProduct", "convolution"):
            return str(layer.name)
    probabilities = _probability_blob(model, nn)
    last = producers.get(probabilities)
    if last is not None and layer_kind(last) == "softmaxND":
        raise SurgeryError(
            f"cannot find the classifier's head: the probabilities '{probabilities}' come from "
            f"softmaxND '{last.name}', and Core ML's cross-entropy needs a softmax layer (rule "
            "C4). Rewrite it first: `updatable make-updatable` does by default, or "
            "runtime.repair(spec) / updatable.repair(spec, shapes=..., check=...)"
        )
    raise SurgeryError(
        "cannot find the classifier's head: expected innerProduct or convolution -> "
        f"[activation/flatten/pooling] -> softmax producing '{probabilities}'"
    )


def expand_classifier(
    spec: proto.Model, layer: str, num_classes: int, labels: Sequence[str | int] | None = None
) -> proto.Model:
    """Widen ``layer`` (the innerProduct or 1x1 convolution feeding the classifier's softmax) to
    ``num_classes`` outputs.

    Existing weights and bias are kept; the new output rows are zero, so every new class starts
    with logit ``0``. New labels are ``labels`` (the new ones only, or the full list starting
    with the current labels) or placeholders: ``user0, user1, ...`` for String classifiers,
    ``max(label) + 1, ...`` for Int64 ones. The class-label list, ``outputChannels`` and every
    multiArray output or training input describing a blob whose width changes are updated.

    Raises:
        UnsupportedLayerError: the layer is not an innerProduct / 1x1 convolution with float32
            weights.
        SurgeryError: the layer does not feed the classifier's softmax.
        ParameterError: ``num_classes`` is not larger than now, or the labels are wrong.
    """
    model, pipelines = locate(spec, ("neuralNetworkClassifier",), "expand_classifier")
    nn = network(model)
    target = find_layer(model, layer)
    params = _check_weights(target, allow_converted=False)
    current = params.outputChannels
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral):
        raise ParameterError(f"num_classes must be an integer; got {num_classes!r}")
    if num_classes <= current:
        raise ParameterError(
            f"num_classes must be larger than the current {current} outputs of '{layer}'; "
            f"got {num_classes}"
        )
    blobs = _blobs_to_softmax(model, nn, target)
    new_labels = _new_labels(nn, current, int(num_classes), labels)

    extra = int(num_classes) - current
    per_output = len(params.weights.floatValue) // current
    # Core ML stores innerProduct weights as [out, in] and convolution weights as
    # [out, in/groups, kH, kW]: the new output rows go at the end in both layouts.
    params.weights.floatValue.extend(np.zeros(extra * per_output, np.float32).tolist())
    if params.hasBias:
        params.bias.floatValue.extend([0.0] * extra)
    params.outputChannels = int(num_classes)
    getattr(nn, nn.WhichOneof("ClassLabels")).vector.extend(new_labels)
    widened = set(blobs) | _mse_targets(nn, blobs)
    for holder in [*pipelines, model]:
        for feature in [*holder.description.output, *holder.description.trainingInput]:
            if feature.name in widened:
                _widen(feature, int(num_classes))
    return spec


def reinitialize(
    spec: proto.Model, layer: str, scheme: str = "kaiming_uniform", seed: int = 0
) -> proto.Model:
    """Overwrite the weights (and bias) of an innerProduct or convolution layer.

    ``"kaiming_uniform"`` (He et al. 2015, for ReLU networks): ``W ~ U(-sqrt(6 / fan_in),
    +sqrt(6 / fan_in))`` and ``b ~ U(-1 / sqrt(fan_in), +1 / sqrt(fan_in))``, where ``fan_in``
    is ``inputChannels`` for an innerProduct and ``kernelChannels * kH * kW`` (= Cin / groups
    * kH * kW) for a convolution, as in ``torch.nn.init``. ``"zeros"`` sets both to 0.
    Draws come from ``numpy.random.default_rng(seed)``, weights first, so a seed gives the
    same model everywhere. Weights are written as float32 (``floatValue``), replacing FP16 or
    quantized storage; ``isUpdatable`` flags are kept.
    """
    if scheme not in SCHEMES:
        raise ParameterError(
            f"unknown initialisation scheme {scheme!r}; choose one of {list(SCHEMES)}"
        )
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ParameterError(f"seed must be a non-negative integer; got {seed!r}")
    model, _ = locate(spec, NEURAL_NETWORK_TYPES, "reinitialize")
    target = find_layer(model, layer)
    params = _check_weights(target, allow_converted=True)
    fan_in, count = _fan_in_and_count(target, params)
    if scheme == "zeros":
        weights, bias = np.zeros(count, np.float32), np.zeros(params.outputChannels, np.float32)
    else:
        rng = np.random.default_rng(int(seed))
        bound = math.sqrt(6.0 / fan_in)
        weights = rng.uniform(-bound, bound, count).astype(np.float32)
        bias_bound = 1.0 / math.sqrt(fan_in)
        bias = rng.uniform(-bias_bound, bias_bound, params.outputChannels).astype(np.float32)
    _overwrite(params.weights, weights)
    if params.hasBias:
        _overwrite(params.bias, bias)
    return spec


def _check_weights(layer: proto.NeuralNetworkLayer, *, allow_converted: bool) -> Any:
    kind = layer_kind(layer)
    if kind not in ("innerProduct", "convolution"):
        raise UnsupportedLayerError(
            f"layer '{layer.name}' has kind '{kind}'; expected innerProduct or convolution"
        )
    params = getattr(layer, kind)
    if kind == "convolution":
        if params.isDeconvolution:
            raise UnsupportedLayerError(f"layer '{layer.name}' is a deconvolution; not supported")
        if not allow_converted and list(params.kernelSize) != [1, 1]:
            raise UnsupportedLayerError(
                f"layer '{layer.name}' is a {list(params.kernelSize) or [3, 3]} convolution; "
                "only a 1x1 convolution can act as a classifier layer"
            )
        if not allow_converted and params.nGroups > 1:
            raise UnsupportedLayerError(f"layer '{layer.name}' is a grouped convolution")
    if not params.HasField("weights"):
        raise UnsupportedLayerError(f"layer '{layer.name}' has no stored weights")
    _, count = _fan_in_and_count(layer, params)
    stored = len(params.weights.floatValue)
    if not allow_converted and stored != count:
        raise UnsupportedLayerError(
            f"layer '{layer.name}' must store {count} float32 weights (floatValue); it has "
            f"{stored} (FP16 or quantized weights cannot be widened)"
        )
    return params


def _fan_in_and_count(layer: proto.NeuralNetworkLayer, params: proto.Message) -> tuple[int, int]:
    if layer_kind(layer) == "innerProduct":
        return params.inputChannels, params.inputChannels * params.outputChannels
    height, width = list(params.kernelSize) or [3, 3]  # Core ML's default kernel is 3x3
    fan_in = params.kernelChannels * height * width
    return fan_in, fan_in * params.outputChannels


def _overwrite(weights: proto.WeightParams, values: np.ndarray) -> None:
    updatable = weights.isUpdatable
    weights.Clear()  # drops FP16, raw and quantized storage too
    weights.floatValue.extend(values.tolist())
    weights.isUpdatable = updatable


def _probability_blob(model: proto.Model, nn: proto.Message) -> str:
    return (
        nn.labelProbabilityLayerName
        or model.description.predictedProbabilitiesName
        or (nn.layers[-1].output[0] if nn.layers else "")
    )


def _blobs_to_softmax(
    model: proto.Model, nn: proto.Message, layer: proto.NeuralNetworkLayer
) -> list[str]:
    """The blobs from ``layer``'s output to the probabilities, whose width all change."""
    goal = _probability_blob(model, nn)
    consumers: dict[str, list[Any]] = {}
    for candidate in nn.layers:
        for blob in candidate.input:
            consumers.setdefault(blob, []).append(candidate)
    blobs = [layer.output[0]]
    while blobs[-1] != goal:
        users = consumers.get(blobs[-1], [])
        step = users[0] if len(users) == 1 else None
        if step is None or layer_kind(step) not in (*_WIDTH_PRESERVING, "softmax"):
            raise SurgeryError(
                f"layer '{layer.name}' does not feed the classifier's softmax: its output must "
                f"reach '{goal}' through activation/flatten layers and one softmax, each the "
                f"only reader of its input; '{blobs[-1]}' is read by "
                f"{[u.name for u in users] or 'no layer'}"
            )
        blobs.append(step.output[0])
        if layer_kind(step) == "softmax" and blobs[-1] != goal:
            raise SurgeryError(f"softmax '{step.name}' does not produce the probabilities '{goal}'")
    if not any(layer_kind(u) == "softmax" for b in blobs[:-1] for u in consumers.get(b, [])):
        raise SurgeryError(f"no softmax between layer '{layer.name}' and '{goal}'")
    if consumers.get(goal):
        raise SurgeryError(
            f"the probabilities '{goal}' are read by {[u.name for u in consumers[goal]]}; "
            "widening would change their input"
        )
    return blobs


def _new_labels(
    nn: proto.Message, current: int, num_classes: int, labels: Sequence[str | int] | None
) -> list[Any]:
    kind = nn.WhichOneof("ClassLabels")
    existing = list(getattr(nn, kind).vector) if kind else []
    if len(existing) != current:
        raise SurgeryError(
            f"the classifier has {len(existing)} class labels but its layer has {current} outputs"
        )
    extra = num_classes - current
    label_type = str if kind == "stringClassLabels" else int
    if labels is None:
        if label_type is str:
            taken, labels, i = set(existing), [], 0
            while len(labels) < extra:
                if f"user{i}" not in taken:
                    labels.append(f"user{i}")
                i += 1
        else:
            start = max(existing, default=-1) + 1
            labels = list(range(start, start + extra))
        return labels
    if isinstance(labels, (str, bytes)):
        raise ParameterError(f"labels must be a list of labels, not one string; got {labels!r}")
    labels = list(labels)
    if len(labels) == num_classes and labels[:current] == existing:
        labels = labels[current:]
    if len(labels) != extra:
        raise ParameterError(
            f"expected {extra} new labels (or all {num_classes} starting with the current "
            f"{existing}); got {len(labels)}"
        )
    wrong: list[str | int]
    if label_type is str:
        wrong = [v for v in labels if not isinstance(v, str)]
    else:
        wrong = [v for v in labels if isinstance(v, bool) or not isinstance(v, numbers.Integral)]
    if wrong:
        expected = "String" if label_type is str else "Int64"
        raise ParameterError(f"the classifier has {expected} labels; got {wrong}")
    if label_type is int:
        labels = [as_int64(v, "a class label") for v in labels]
    everything = existing + labels
    repeated = sorted({str(v) for v in everything if everything.count(v) > 1})
    if repeated:
        raise ParameterError(f"class labels must be unique; repeated: {repeated}")
    return labels


def _mse_targets(nn: proto.Message, blobs: list[str]) -> set[str]:
    return {
        loss.meanSquaredErrorLossLayer.target
        for loss in nn.updateParams.lossLayers
        if loss.WhichOneof("LossLayerType") == "meanSquaredErrorLossLayer"
        and loss.meanSquaredErrorLossLayer.input in blobs
    }


def _widen(feature: proto.FeatureDescription, num_classes: int) -> None:
    if feature.type.WhichOneof("Type") != "multiArrayType":
        return  # dictionaries and labels carry no width
    shape = feature.type.multiArrayType.shape
    if len(shape) in (1, 3):
        shape[0] = num_classes  # [C] or [C, H, W]
    elif len(shape) == 5:
        shape[2] = num_classes  # [Seq, Batch, C, H, W]
    elif shape:
        shape[-1] = num_classes
