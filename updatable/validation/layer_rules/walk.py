"""Spec side, validation layer: Core ML's walk over a network's layers, the place of every
per-layer check.

Source: coremltools ``mlmodel/src/Validation/NeuralNetwork/NeuralNetworkValidator.cpp``
(``validateNeuralNetworkTopLevel``, ``NeuralNetworkSpecValidator::validateNeuralNetwork``,
``validateLayer``), ``NeuralNetworkValidatorUtils.hpp`` (``validateTensorMessage``) and
``Utils.cpp`` (``isIOS12NeuralNetworkLayer``). For each layer, in order, Core ML checks:

1. (N-d networks) the ranks the layer declares in ``inputTensor`` / ``outputTensor`` (Y1);
   they join the known ranks of the network's blobs;
2. the layer itself: the rules of its kind (Y2-Y6, ``registry.LAYER_RULES``), or Y7 for a
   kind it does not know; loop and branch layers validate their nested networks here;
3. its inputs exist already (N8);
4. its outputs are new, unless it is a ``copy`` (N9).

The first failure stops the walk. Known ranks start as the ranks of the model's inputs and
outputs, and only in N-d networks: a rank-5 (iOS 12) network has no rank rules.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from updatable import proto
from updatable.spec import network
from updatable.validation.issues import At, Issue
from updatable.validation.layer_rules.registry import LAYER_RULES
from updatable.validation.layer_rules.scope import Scope, int32, kind_of

# Layer kinds of the iOS 12 (rank-5) neural network; anything else switches the network to
# N-d arrays ("ndArrayInterpretation"). Some kinds qualify only in their iOS 12 form (below).
_IOS12_LAYERS = frozenset(
    """convolution innerProduct batchnorm activation pooling padding concat lrn softmax split add
    multiply unary upsample bias l2normalize reshape flatten permute reduce loadConstant scale
    simpleRecurrent gru uniDirectionalLSTM biDirectionalLSTM crop average max min dot mvn
    embedding sequenceRepeat reorganizeData slice custom resizeBilinear cropResize""".split()
)
_PIXEL_SHUFFLE = proto.NeuralNetwork_pb2.ReorganizeDataLayerParams.PIXEL_SHUFFLE
_LAYER_TYPE = proto.NeuralNetwork_pb2.NeuralNetworkLayer.DESCRIPTOR.full_name


def is_ios12_layer(layer: proto.NeuralNetworkLayer) -> bool:
    """``isIOS12NeuralNetworkLayer``: the layer exists, in this form, in the iOS 12 format."""
    kind = kind_of(layer)
    if kind == "convolution":
        return len(layer.input) == 1  # a second input means dynamic weights (iOS 13)
    if kind == "innerProduct":
        return not layer.innerProduct.int8DynamicQuantize
    if kind == "upsample":
        up = layer.upsample
        return up.linearUpsampleMode == 0 and not len(up.fractionalScalingFactor)
    if kind == "reorganizeData":
        return bool(layer.reorganizeData.mode != _PIXEL_SHUFFLE)
    return kind in _IOS12_LAYERS


def nd_array_mode(model: proto.Model) -> bool:
    """``ndArrayInterpretation``: a layer newer than iOS 12, or a non-default shape mapping."""
    nn = network(model)
    return (
        any(not is_ios12_layer(layer) for layer in nn.layers)
        or nn.arrayInputShapeMapping != 0
        or nn.imageInputShapeMapping != 0
    )


def _io_ranks(model: proto.Model, nd: bool) -> dict[str, int]:
    """``ioBlobNameToRank``: ranks of model inputs and (shaped) multiArray outputs, N-d only."""
    ranks: dict[str, int] = {}
    if not nd:
        return ranks
    nn, description = network(model), model.description
    for feature in description.input:
        kind = feature.type.WhichOneof("Type")
        if kind == "multiArrayType":
            rank5 = nn.arrayInputShapeMapping == 0
            ranks[feature.name] = 5 if rank5 else len(feature.type.multiArrayType.shape)
        elif kind == "imageType":
            ranks[feature.name] = 5 if nn.imageInputShapeMapping == 0 else 4
    for feature in description.output:
        if feature.type.HasField("multiArrayType") and len(feature.type.multiArrayType.shape):
            ranks[feature.name] = len(feature.type.multiArrayType.shape)
    return ranks


def _tensors_problem(layer: proto.NeuralNetworkLayer, scope: Scope, side: str) -> str | None:
    """Y1 for ``inputTensor`` (``side="input"``) or ``outputTensor``: one per blob; ``rank``
    matches ``dimValue``; a model input's / output's rank; one rank per blob."""
    tensors = layer.inputTensor if side == "input" else layer.outputTensor
    blobs = layer.input if side == "input" else layer.output
    name = layer.name
    if not len(tensors):
        return None
    if len(blobs) != len(tensors):
        if side == "input":
            return f"Layer '{name}''s input and inputTensors have different lengths"
        return f"Layer '{name}''s output and \"outputTensors\" property have different lengths"
    for blob, tensor in zip(blobs, tensors, strict=True):
        rank = int32(tensor.rank)
        if len(tensor.dimValue) and rank != len(tensor.dimValue):
            return f"Tensor in layer '{name}': rank must match the length of dimValue"
        if len(tensor.dimValue) and rank < 1:
            return f"Tensor in layer '{name}': rank must be positive"
        if blob in scope.io_ranks and rank != scope.io_ranks[blob]:
            role = "an input to" if side == "input" else "an output of"
            return (
                f"Layer '{name}''s {side} '{blob}' is also {role} the model. However, for this "
                "tensor the rank provided in the layer description does not match the one "
                "provided in the model description"
            )
        if scope.ranks.setdefault(blob, rank) != rank:
            return f"Inconsistent rank for the blob named '{blob}'."
    return None


def check_layer(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
    """``validateLayer``: the first issue the rules of the layer's kind find (Y2-Y7)."""
    rules = LAYER_RULES.get(kind_of(layer))
    if rules is None:
        message = f"Unsupported layer type ({_LAYER_TYPE}) for layer '{layer.name}'."
        yield scope.error("Y7", layer, message)
        return
    for rule in rules:
        for issue in rule(layer, scope):
            yield issue
            return


def walk_layers(layers: Sequence[proto.NeuralNetworkLayer], scope: Scope) -> Iterator[Issue]:
    """``validateNeuralNetwork``: each layer's checks in Core ML's order; records the blobs it
    produces in ``scope``. Yields the first issue only."""
    for layer in layers:
        if scope.nd and (len(layer.inputTensor) or len(layer.outputTensor)):
            message = _tensors_problem(layer, scope, "input")
            message = message or _tensors_problem(layer, scope, "output")
            if message:
                yield scope.error("Y1", layer, message)
                return
        for issue in check_layer(layer, scope):
            yield issue
            return
        for blob in layer.input:
            if blob not in scope.blobs:
                message = (
                    f"Layer '{layer.name}' consumes an input named '{blob}' which is not "
                    "present in this network."
                )
                yield scope.error("N8", layer, message)
                return
        for blob in layer.output:
            if blob in scope.blobs and kind_of(layer) != "copy":
                # Core ML names the first producer in std::set (byte) order.
                message = (
                    f"Layer '{layer.name}' produces an output named '{blob}' which is also an "
                    f"output produced by the layer '{min(scope.blobs[blob])}'."
                )
                yield scope.error("N9", layer, message)
                return
            scope.blobs.setdefault(blob, set()).add(layer.name)


def network_scope(model: proto.Model, at: At) -> Scope:
    """The scope Core ML starts the walk of ``model``'s network in."""
    nd = nd_array_mode(model)
    io_ranks = _io_ranks(model, nd)
    return Scope(
        at=at,
        nd=nd,
        blobs={feature.name: {"__input"} for feature in model.description.input},
        io_ranks=io_ranks,
        ranks=dict(io_ranks),
        walk=walk_layers,
    )


def layers_valid(model: proto.Model, at: At) -> Iterator[Issue]:
    """Y1-Y7, N8, N9: every layer, nested networks included, in Core ML's order."""
    yield from walk_layers(network(model).layers, network_scope(model, at))


def _record_blobs(layers: Sequence[proto.NeuralNetworkLayer], scope: Scope) -> Iterator[Issue]:
    """The walk without its checks: the blobs each layer adds to ``scope``, loops and branches
    merging their nested networks' blobs as Core ML does (their rules do the merging)."""
    for layer in layers:
        kind = kind_of(layer)
        if kind in ("loop", "branch"):
            for _ in LAYER_RULES[kind][-1](layer, scope):
                break  # (the network passed the walk: nothing to report)
        for blob in layer.output:
            scope.blobs.setdefault(blob, set()).add(layer.name)
    yield from ()


def produced_blobs(model: proto.Model) -> dict[str, set[str]]:
    """Every blob of the network after Core ML's walk -> its producers (``"__input"`` for
    model inputs): what the output checks N10 / N11 read, for a network that passed the walk
    (its checks are not run again)."""
    blobs = {feature.name: {"__input"} for feature in model.description.input}
    scope = Scope(at=At(), nd=False, blobs=blobs, io_ranks={}, walk=_record_blobs)
    for _ in _record_blobs(network(model).layers, scope):
        break
    return scope.blobs
