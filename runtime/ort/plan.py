"""Runtime, ONNX layer: which part of an updatable network trains, and how its ONNX training graph
is cut.

The loss. Core ML's categorical cross-entropy reads the *output* of a softmax (validator rule
C4) and is ``-log p[target]``. The ONNX training graph stops at the softmax's *input* z and
uses ONNX Runtime's ``SoftmaxCrossEntropyLoss``, which computes ``logsumexp(z) - z[target]``:
the same number (``-log softmax(z)[t] = -(z_t - logsumexp(z))``), evaluated without forming
``log(p)`` of a rounded probability, and with the same gradient ``softmax(z) - onehot(t)``
(divided by N for the batch mean) that backpropagating through the softmax would give. The
softmax itself stays in the graph as a side output, so the training and eval models still
return the probabilities. Mean squared error reads its input as is (mean over all elements,
like ORT's ``MSELoss`` and the toolkit's own loss).

The cut. Layers that no updatable layer feeds are a pure function of the model inputs (the
*frozen prefix*); the *head* holds every layer on the way to the loss that an updatable layer
feeds, directly or not. The *boundary* blobs are what the prefix hands to the head. In the
``split`` layout the prefix runs in an inference session and only the head is a training
graph; in the ``whole`` layout one training graph holds both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from runtime.ort.export import Fetch, convert_network, needed_layers
from runtime.ort.onnx_graph import CHW
from updatable import spec as spec_io
from updatable.errors import UnsupportedLayerError, UnsupportedModelError

CROSS_ENTROPY = "categoricalCrossEntropyLossLayer"
MEAN_SQUARED_ERROR = "meanSquaredErrorLossLayer"
UPDATABLE_KINDS = ("convolution", "innerProduct")


@dataclass(frozen=True)
class TrainingPlan:
    """The training slice of a network and the names its ONNX graphs use.

    Attributes:
        loss: the Core ML loss oneof name (``categoricalCrossEntropyLossLayer`` or
            ``meanSquaredErrorLossLayer``); ``loss_layer`` its name.
        loss_input: the blob the Core ML loss reads (the softmax output for CCE); it is also
            the name of the training and eval models' second output (the third, for CCE, is
            ``logits``).
        logits: the blob the ONNX loss reads (the softmax input for CCE, else ``loss_input``).
        target: the loss target's name, used for the ONNX label / target input.
        output_dims: per-example shape of the ``loss_input`` output (and of an MSE target).
        parameters: ONNX parameter name -> (layer name, ``"weights"`` or ``"bias"``) for every
            weight that trains.
        head: indices of the head layers; ``boundary``: blobs fed to the head by the frozen
            prefix, with their per-example ``(C, H, W)``.
    """

    loss: str
    loss_layer: str
    loss_input: str
    logits: str
    target: str
    output_dims: tuple[int, ...]
    parameters: dict[str, tuple[str, str]]
    head: tuple[int, ...]
    boundary: dict[str, CHW]

    def extra_outputs(self) -> list[str]:
        """Outputs of the training and eval models after the loss: the loss layer's input,
        then (cross-entropy) the logits."""
        return [self.loss_input] + ([self.logits] if self.loss == CROSS_ENTROPY else [])

    def fetches(self) -> list[Fetch]:
        """Outputs of the base (forward) model: the loss's input, then the probabilities."""
        if self.loss == CROSS_ENTROPY:
            return [
                Fetch(self.logits, self.logits, self.output_dims),
                Fetch(self.loss_input, self.loss_input, self.output_dims),
            ]
        return [Fetch(self.loss_input, self.loss_input, self.output_dims)]


def _producer(layers, blob: str):
    for layer in reversed(layers):
        if blob in layer.output:
            return layer
    return None


def _single_loss(network):
    """The network's one loss layer, cross-entropy or MSE."""
    losses = list(network.updateParams.lossLayers)
    if len(losses) != 1:
        raise UnsupportedModelError(
            f"the model has {len(losses)} loss layers; a training graph needs exactly one "
            "(make the model updatable and set its loss first)"
        )
    kind = losses[0].WhichOneof("LossLayerType")
    if kind not in (CROSS_ENTROPY, MEAN_SQUARED_ERROR):
        raise UnsupportedModelError(
            f"loss layer '{losses[0].name}' has type {kind}; expected {CROSS_ENTROPY} or "
            f"{MEAN_SQUARED_ERROR}"
        )
    return losses[0]


def plan_training(spec) -> TrainingPlan:
    """Analyse an updatable neural network (plain, classifier or regressor).

    Raises:
        UnsupportedModelError: no loss layer or more than one, a CCE not fed by a softmax, a
            softmax over more than the channel axis, or no updatable layer before the loss.
    """
    network = spec_io.network(spec)
    layers = list(network.layers)
    loss = _single_loss(network)
    kind = loss.WhichOneof("LossLayerType")
    params = getattr(loss, kind)
    logits = params.input
    if kind == CROSS_ENTROPY:
        softmax = _producer(layers, params.input)
        if softmax is None or spec_io.layer_kind(softmax) != "softmax":
            raise UnsupportedModelError(
                f"For the categorical cross entropy loss layer named '{loss.name}', input is "
                "not generated from a softmax output."
            )
        logits = softmax.input[0]
    _, shapes = convert_network(spec, [Fetch(params.input, params.input)])
    output_dims = _output_dims(spec, kind, params, shapes)
    needed = needed_layers(layers, [logits])
    trainable = {i for i in needed if layers[i].isUpdatable}
    if not trainable:
        raise UnsupportedModelError(
            f"no updatable layer lies on the path to loss layer '{loss.name}'; mark layers "
            "updatable first"
        )
    head: list[Any] = []
    fed_by_head: set[str] = set()
    parameters: dict[str, Any] = {}
    for i in needed:
        layer = layers[i]
        if i in trainable or fed_by_head.intersection(layer.input):
            head.append(i)
            fed_by_head.update(layer.output)
        if i in trainable:
            parameters.update(_trainable_parameters(layer))
    model_inputs = {feature.name for feature in spec.description.input}
    boundary = {
        blob: shapes[blob]
        for i in head
        for blob in layers[i].input
        if blob not in fed_by_head and blob not in model_inputs
    }
    return TrainingPlan(
        kind,
        loss.name,
        params.input,
        logits,
        params.target,
        output_dims,
        parameters,
        tuple(head),
        boundary,
    )


def _trainable_parameters(layer) -> dict[str, tuple[str, str]]:
    kind = spec_io.layer_kind(layer)
    if kind not in UPDATABLE_KINDS:
        raise UnsupportedLayerError(
            f"layer '{layer.name}' is marked updatable but has kind '{kind}'; updatable kinds: "
            f"{list(UPDATABLE_KINDS)}"
        )
    names = {f"{layer.name}.weights": (layer.name, "weights")}
    if getattr(layer, kind).hasBias:
        names[f"{layer.name}.bias"] = (layer.name, "bias")
    return names


def _output_dims(spec, kind: str, params, shapes) -> tuple[int, ...]:
    shape = shapes[params.input]
    if kind == CROSS_ENTROPY:
        if shape[1:] != (1, 1):
            raise UnsupportedModelError(
                f"the cross-entropy input '{params.input}' has [C, H, W] = {list(shape)}; "
                "Core ML's loss takes one probability vector per example (H = W = 1)"
            )
        return shape[:1]
    for feature in (*spec.description.trainingInput, *spec.description.output):
        if feature.name in (params.target, params.input) and feature.type.HasField(
            "multiArrayType"
        ):
            dims = tuple(int(d) for d in feature.type.multiArrayType.shape)
            if dims and math.prod(dims) == math.prod(shape):
                return dims
    return shape[:1] if shape[1:] == (1, 1) else shape
