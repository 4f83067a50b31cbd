"""Spec side, validation layer: loss layers (C1, C3-C7) and the backpropagation reachability search
(C17, C18).

Source: coremltools ``mlmodel/src/Validation/NeuralNetwork/UpdatableNeuralNetworkValidator.cpp``
(``validateLossLayer``, ``isTrainingConfigurationSupported``) and
``NeuralNetworkValidatorGraph.hpp`` (the graph and ``isLayerSupportedForBackprop``).

The graph (C2) links each layer input to the **last earlier** producer of that blob; a loss
node's only parent is the producer of its ``input``. Model inputs have no node.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from updatable import proto
from updatable.spec import layer_kind, network
from updatable.validation.issues import UPD_CONFIG, At, Issue

# isLayerSupportedForBackprop (uniDirectionalLSTM since coremltools 5.0b1); everything else,
# softmax, softmaxND, add, concat, reshape, unary, copy... included, blocks backpropagation.
BACKPROP_LAYERS = frozenset(
    {"convolution", "innerProduct", "flatten", "pooling", "batchnorm", "uniDirectionalLSTM"}
)
BACKPROP_ACTIVATIONS = frozenset({"ReLU", "sigmoid", "tanh"})
_CCE = "categoricalCrossEntropyLossLayer"


def supports_backprop(layer: proto.NeuralNetworkLayer) -> bool:
    """Whether Core ML can backpropagate through ``layer`` (a ``NeuralNetworkLayer``)."""
    kind = layer_kind(layer)
    if kind == "activation":
        return layer.activation.WhichOneof("NonlinearityType") in BACKPROP_ACTIVATIONS
    return kind in BACKPROP_LAYERS


@dataclass
class Node:
    """A layer or loss layer of the validator's graph."""

    name: str
    kind: str  # the layer oneof name; "" for a loss node
    loss_kind: str  # the loss oneof name; "" for a layer
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    updatable: bool
    backprop: bool
    parents: list[Node] = field(default_factory=list)


class Graph:
    """``NeuralNetworkValidatorGraph``: nodes by name and the latest producer of each blob."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self.producers: dict[str, Node] = {}

    def insert(self, node: Node) -> None:
        node.parents = [self.producers[b] for b in node.inputs if b in self.producers]
        for blob in node.outputs:
            self.producers[blob] = node  # a later producer replaces an earlier one
        self.nodes[node.name] = node


def _layer_node(layer: proto.NeuralNetworkLayer) -> Node:
    kind = layer_kind(layer)
    return Node(
        layer.name,
        kind,
        "",
        tuple(layer.input),
        tuple(layer.output),
        layer.isUpdatable,
        supports_backprop(layer),
    )


def loss_input_and_target(loss: proto.LossLayer) -> tuple[str, str]:
    """The ``input`` and ``target`` blob names of a loss layer (empty if its type is unset)."""
    kind = loss.WhichOneof("LossLayerType")
    if kind is None:
        return "", ""
    params = getattr(loss, kind)
    return params.input, params.target


def _loss_node(loss: proto.LossLayer) -> Node:
    kind = loss.WhichOneof("LossLayerType") or ""
    blob, _ = loss_input_and_target(loss)
    return Node(loss.name, "", kind, (blob,) if kind else (), (), False, False)


def build_graph(nn: proto.Message) -> tuple[Graph, list[Node]]:
    """C2: the layers in order, then the loss layers; returns the graph and the loss nodes.

    Core ML validates each loss right after inserting it; a loss node produces no blob, so it
    sees the same producers as in the finished graph.
    """
    graph = Graph()
    for layer in nn.layers:
        graph.insert(_layer_node(layer))
    losses = [_loss_node(loss) for loss in nn.updateParams.lossLayers]
    for node in losses:
        graph.insert(node)
    return graph, losses


def _loss_where(loss: proto.LossLayer) -> str:
    return f"updateParams.lossLayers['{loss.name}']"


def single_loss(model: proto.Model, at: At) -> Iterator[Issue]:
    """C1: at most one loss layer."""
    if len(network(model).updateParams.lossLayers) > 1:
        message = (
            "This model has more than one loss layers specified, which is not supported at "
            "the moment."
        )
        yield at.error("C1", "updateParams.lossLayers", message, UPD_CONFIG)


def loss_layers_valid(model: proto.Model, at: At) -> Iterator[Issue]:
    """C3-C7, per loss layer in order.

    C3 the loss is CCE or MSE; C4 a CCE input is the **first** output of a ``softmax`` layer
    (``softmaxND`` does not count, nor does a model input); C5 / C7 the target is produced by
    no layer; C6 an MSE input is produced by some layer, of any type.
    """
    nn = network(model)
    graph, nodes = build_graph(nn)
    for loss, node in zip(nn.updateParams.lossLayers, nodes, strict=True):
        name, kind = loss.name, node.loss_kind
        blob, target = loss_input_and_target(loss)
        if kind == _CCE:
            softmax = next((p for p in node.parents if p.kind == "softmax"), None)
            if softmax is None or softmax.outputs[0] != blob:
                message = (
                    f"For the categorical cross entropy loss layer named '{name}', input is "
                    "not generated from a softmax output."
                )
                yield at.error("C4", _loss_where(loss), message, UPD_CONFIG)
                return
            if target in graph.producers:
                message = (
                    f"For the cross entropy loss layer named '{name}', target is generated "
                    "within the graph."
                )
                yield at.error("C5", _loss_where(loss), message, UPD_CONFIG)
                return
        elif kind == "meanSquaredErrorLossLayer":
            if blob not in graph.producers:
                message = (
                    f"For the MSE loss layer named '{name}', input is not generated within the "
                    "graph."
                )
                yield at.error("C6", _loss_where(loss), message, UPD_CONFIG)
                return
            if target in graph.producers:
                message = (
                    f"For the MSE loss layer named '{name}', target is generated within the graph."
                )
                yield at.error("C7", _loss_where(loss), message, UPD_CONFIG)
                return
        else:
            message = (
                f"Loss function is not recognized in the loss layer named '{name}', only cross "
                "entropy loss and MSE are supported."
            )
            yield at.error("C3", _loss_where(loss), message, UPD_CONFIG)
            return


def backprop_reachable(model: proto.Model, at: At) -> Iterator[Issue]:
    """C17 / C18: Core ML's breadth-first search from each loss towards the inputs.

    Reproduced exactly, including its approximations:

    * one ``visited`` set (by name) for the whole search; the loss node is never in it;
    * parents are walked in input order; a parent already visited is skipped, otherwise it is
      marked and enqueued, and then
    * an updatable parent fails (C17) if **any** blocker was seen before in this loss's search,
      even on a parallel branch that no path from it to the loss crosses;
    * a parent that cannot backpropagate sets the blocker flag and becomes the blocker named in
      the message (the most recent one, not the first); the only exemption is a ``softmax``
      that is a direct parent of a cross-entropy loss node. MSE has no exemption.
    """
    nn = network(model)
    graph, _ = build_graph(nn)
    visited: set[str] = set()
    for loss in nn.updateParams.lossLayers:
        queue = deque([loss.name])
        blocker_seen, blocker = False, ""
        while queue:
            name = queue.popleft()
            current = graph.nodes.get(name)
            if current is None:  # cannot happen once B1 holds; kept as Core ML has it
                message = f"Failed to look up node for '{name}'."
                yield at.error("C18", _loss_where(loss), message, UPD_CONFIG)
                return
            for parent in current.parents:
                if parent.name in visited:
                    continue
                visited.add(parent.name)
                queue.append(parent.name)
                if parent.updatable and blocker_seen:
                    message = (
                        f"There is a layer ({blocker}), which does not support backpropagation, "
                        "between an updatable marked layer and the loss function."
                    )
                    yield at.error("C17", f"layers['{blocker}']", message, UPD_CONFIG)
                    return
                if not parent.backprop:
                    # NOTE: Core ML exempts a softmax only when it feeds a CCE loss directly.
                    if parent.kind == "softmax" and current.loss_kind == _CCE:
                        continue
                    blocker_seen, blocker = True, parent.name
