"""Spec side, editing layer: the layer rewrites behind :func:`updatable.repair`, each an exact
identity on the model's outputs.

Core ML trains only through ``softmax`` + cross-entropy, ``innerProduct``, ``convolution``,
``flatten``, ``pooling``, ``batchnorm``, ``uniDirectionalLSTM`` and ReLU / sigmoid / tanh
activations, on tensors of rank 3 or more for its ``softmax``. Converters write N-D kinds
(``softmaxND``, ``batchedMatmul``, ``reshapeStatic``, ``flattenTo2D``, ``squeeze``,
``reduceMean``) on rank-2 ``[1, K]`` tensors instead. The rewrites here:

* ``batchedMatmul`` with one input and constant weights ``[X1, X2]`` on a ``[1, X1]`` tensor
  -> ``innerProduct``: the weights are stored as the ``[X2, X1]`` row-major matrix
  (NeuralNetwork.proto: "stored in column major order"), which is innerProduct's ``[out, in]``
  layout, so weights and bias copy unchanged;
* ``innerProduct`` then ``addBroadcastable`` of a ``loadConstantND`` of ``K`` values -> the
  constant added to the innerProduct's bias;
* the classifier head: ``softmaxND`` over the class axis of ``[1, K]`` -> ``softmax`` (which
  normalises axis -3) on ``[1, K, 1, 1]``. The chain above it is lifted to rank 4: activations
  and innerProducts compute the same values on ``[1, C, 1, 1]`` as on ``[1, C]``; a
  ``reshapeStatic`` / ``flattenTo2D`` / ``squeeze`` chain from a ``[1, C, H, W]`` tensor is the
  C-order flattening that ``flatten`` (CHANNEL_FIRST) computes; ``reduceMean`` over axes 2 and 3
  of ``[1, C, H, W]`` is a global average ``pooling``; anything else gets an ``expandDims``
  (axes 2, 3) to ``[1, C, 1, 1]`` in front of the innerProduct that reads it.

Each finder returns a :class:`Rewrite` (what it will do, and a function doing it) or ``None``;
``shapes`` maps blob names to Core ML shapes (the runtime computes them).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from updatable import proto
from updatable.errors import SurgeryError
from updatable.spec import layer_kind

_nn = proto.NeuralNetwork_pb2
# layers that only change a tensor's shape, keeping its elements in C order
RESHAPES = ("reshapeStatic", "flattenTo2D", "squeeze")
# layers computing the same values on [1, C, 1, 1] as on [1, C]
RANK_FREE = ("activation", "innerProduct")


@dataclass
class Rewrite:
    """One planned repair: ``messages`` say what changes, ``apply`` changes it."""

    messages: list[str]
    apply: Callable[[], None]


class Graph:
    """Producers and readers of the blobs of one network (``nn``), with its declared outputs."""

    def __init__(self, nn: Any, outputs: Any) -> None:
        self.nn = nn
        self.outputs = set(outputs)
        self.producer: dict[str, Any] = {}
        self.readers: dict[str, list[Any]] = {}
        for layer in nn.layers:
            for blob in layer.input:
                self.readers.setdefault(blob, []).append(layer)
            for blob in layer.output:
                self.producer[blob] = layer

    def only_reader(self, blob: Any, layer: Any) -> bool:
        """``layer`` is the one reader of ``blob`` and no model output shows it."""
        readers = self.readers.get(blob, [])
        return len(readers) == 1 and readers[0] is layer and blob not in self.outputs


def dense_matmul(graph: Graph, shapes: Any) -> Rewrite | None:
    """The first ``batchedMatmul`` with constant float weights on a ``[1, X1]`` input."""
    for layer in graph.nn.layers:
        if layer_kind(layer) != "batchedMatmul" or len(layer.input) != 1:
            continue
        params = layer.batchedMatmul
        shape = tuple(shapes.get(layer.input[0], ()))
        if (
            not params.HasField("weights")
            or params.int8DynamicQuantize
            or not params.weights.floatValue
            or len(shape) != 2
            or shape[0] != 1
        ):
            continue

        def apply(name: Any = layer.name) -> Any:
            layer = by_name(graph.nn, name)
            params = layer.batchedMatmul
            dense = _nn.InnerProductLayerParams(
                inputChannels=params.weightMatrixFirstDimension,
                outputChannels=params.weightMatrixSecondDimension,
                hasBias=params.hasBias,
            )
            dense.weights.CopyFrom(params.weights)
            if params.hasBias:
                dense.bias.CopyFrom(params.bias)
            layer.innerProduct.CopyFrom(dense)  # replaces the batchedMatmul oneof

        message = f"rewrote batchedMatmul '{layer.name}' as innerProduct '{layer.name}'"
        return Rewrite([message], apply)
    return None


def bias_add(graph: Graph, shapes: Any) -> Rewrite | None:
    """An ``addBroadcastable`` adding a ``loadConstantND`` of K values to an innerProduct's
    ``[1, K]`` output, both read by nothing else."""
    for add in graph.nn.layers:
        if layer_kind(add) != "addBroadcastable" or len(add.input) != 2:
            continue
        for mine, other in (tuple(add.input), tuple(reversed(add.input))):
            dense, constant = graph.producer.get(mine), graph.producer.get(other)
            if (
                dense is None
                or constant is None
                or layer_kind(dense) != "innerProduct"
                or layer_kind(constant) != "loadConstantND"
                or not graph.only_reader(mine, add)
                or not graph.only_reader(other, add)
            ):
                continue
            outputs = dense.innerProduct.outputChannels
            values = list(constant.loadConstantND.data.floatValue)
            if len(values) != outputs or math.prod(constant.loadConstantND.shape) != outputs:
                continue
            if tuple(shapes.get(mine, ())) != (1, outputs):
                continue

            def apply(
                add: Any = add.name,
                dense: Any = dense.name,
                constant: Any = constant.name,
                values: Any = values,
            ) -> Any:
                output = by_name(graph.nn, add).output[0]
                dense = by_name(graph.nn, dense)
                params = dense.innerProduct
                if not params.hasBias:
                    params.hasBias = True
                    params.bias.floatValue.extend([0.0] * len(values))
                summed = [a + b for a, b in zip(params.bias.floatValue, values, strict=True)]
                params.bias.ClearField("floatValue")
                params.bias.floatValue.extend(summed)
                dense.output[0] = output
                remove_layers(graph.nn, {add, constant})

            message = (
                f"folded loadConstantND '{constant.name}' + addBroadcastable '{add.name}' "
                f"into the bias of innerProduct '{dense.name}'"
            )
            return Rewrite([message], apply)
    return None


def softmax_head(graph: Graph, shapes: Any, probabilities: str) -> Rewrite | None:
    """``softmaxND`` producing ``probabilities`` -> ``softmax``, lifting its input to rank 4.

    Raises:
        SurgeryError: the softmaxND does not normalise the class axis (a ``softmax`` would
            compute something else).
    """
    layer = graph.producer.get(probabilities)
    if layer is None or layer_kind(layer) != "softmaxND":
        return None
    source = layer.input[0]
    shape = tuple(shapes.get(source, ()))
    rank = len(shape)
    axis = layer.softmaxND.axis
    normal = axis + rank if axis < 0 else axis
    swap = f"rewrote softmaxND '{layer.name}' as softmax '{layer.name}'"
    if rank >= 3 and normal == rank - 3:
        name = layer.name
        return Rewrite([swap], lambda: _to_softmax(by_name(graph.nn, name)))
    if rank != 2 or shape[0] != 1 or normal != 1:
        raise SurgeryError(
            f"softmaxND '{layer.name}' normalises axis {axis} of its {list(shape)} input "
            f"'{source}'; Core ML's cross-entropy needs a softmax over the classes (axis -3 of "
            "a tensor of rank 3 or more), and only a softmaxND over the class axis of [1, K] "
            "can be rewritten as one. Nothing was changed"
        )
    messages: list[str] = []
    actions: list[Callable[[], None]] = []
    _lift(graph, shapes, source, layer, messages, actions)
    messages.append(swap)

    name = layer.name

    def apply() -> Any:
        for action in actions:
            action()
        _to_softmax(by_name(graph.nn, name))

    return Rewrite(messages, apply)


def _to_softmax(layer: Any) -> None:
    layer.softmax.SetInParent()  # replaces the softmaxND oneof


def _lift(graph: Any, shapes: Any, blob: Any, reader: Any, messages: Any, actions: Any) -> None:
    """Plan making ``blob`` (``[1, N]``, read by ``reader``) a ``[1, N, 1, 1]`` tensor."""
    size = shapes[blob][1]
    producer = graph.producer.get(blob)
    if producer is not None and graph.only_reader(blob, reader):
        kind = layer_kind(producer)
        if (
            kind in RANK_FREE
            and len(producer.input) == 1
            and len(producer.output) == 1
            and not _per_channel(producer)
        ):
            source = producer.input[0]
            if len(shapes.get(source, ())) == 2 and shapes[source][0] == 1:
                _lift(graph, shapes, source, producer, messages, actions)
                return
        if kind in RESHAPES and _flatten_chain(graph, shapes, producer, size, messages, actions):
            return
        if kind == "reduceMean" and _spatial_mean(shapes, producer):
            messages.append(
                f"rewrote reduceMean '{producer.name}' over H, W as global average pooling "
                f"'{producer.name}'"
            )
            actions.append(lambda n=producer.name: _to_global_average(by_name(graph.nn, n)))
            return
    lifted = f"{blob}_rank4"
    while lifted in graph.producer or lifted in graph.readers:
        lifted += "_"
    messages.append(
        f"inserted expandDims '{lifted}' ([1, {size}] -> [1, {size}, 1, 1]) before '{reader.name}'"
    )

    def insert() -> Any:
        expand = proto.NeuralNetworkLayer(name=lifted, input=[blob], output=[lifted])
        expand.expandDims.axes.extend([2, 3])
        insert_before(graph.nn, reader_name, expand)
        target = by_name(graph.nn, reader_name)
        target.input[list(target.input).index(blob)] = lifted

    reader_name = reader.name

    actions.append(insert)


def _per_channel(layer: Any) -> bool:
    """An activation with a value per channel (PReLU, parametric softplus) reads its channel
    from axis -3, which lifting [1, C] to [1, C, 1, 1] would move."""
    if layer_kind(layer) != "activation":
        return False
    return layer.activation.WhichOneof("NonlinearityType") in ("PReLU", "parametricSoftplus")


def _flatten_chain(
    graph: Any, shapes: Any, last: Any, size: Any, messages: Any, actions: Any
) -> bool:
    """``last`` ends a chain of reshapes from a ``[1, C, H, W]`` tensor: make ``last`` a
    ``flatten`` of that tensor and drop the rest of the chain."""
    chain, source = [last], last.input[0]
    while not (len(shapes.get(source, ())) == 4 and shapes[source][0] == 1):
        producer = graph.producer.get(source)
        if producer is None or layer_kind(producer) not in RESHAPES:
            return False
        if not graph.only_reader(source, chain[-1]):
            return False
        chain.append(producer)
        source = producer.input[0]
    if math.prod(shapes[source][1:]) != size:
        return False
    dropped = [layer.name for layer in chain[1:]]
    messages.append(
        f"rewrote {layer_kind(last)} '{last.name}' as flatten '{last.name}'"
        + (f" (dropped {', '.join(repr(n) for n in dropped)})" if dropped else "")
    )

    name = last.name

    def apply() -> Any:
        last = by_name(graph.nn, name)
        last.input[0] = source
        last.flatten.mode = _nn.FlattenLayerParams.CHANNEL_FIRST
        last.flatten.SetInParent()
        remove_layers(graph.nn, set(dropped))

    actions.append(apply)
    return True


def _spatial_mean(shapes: Any, layer: Any) -> bool:
    params = layer.reduceMean
    shape = tuple(shapes.get(layer.input[0], ()))
    if len(shape) != 4 or shape[0] != 1 or params.keepDims or params.reduceAll:
        return False
    return sorted(a % 4 for a in params.axes) == [2, 3]


def _to_global_average(layer: Any) -> None:
    pooling = _nn.PoolingLayerParams(type=_nn.PoolingLayerParams.AVERAGE, globalPooling=True)
    pooling.kernelSize.extend([1, 1])
    pooling.stride.extend([1, 1])
    pooling.valid.paddingAmounts.borderAmounts.add()
    pooling.valid.paddingAmounts.borderAmounts.add()
    layer.pooling.CopyFrom(pooling)


def by_name(nn: Any, name: str) -> Any:
    """The layer of ``nn`` called ``name`` (looked up when a rewrite runs: earlier rewrites
    may have moved layers)."""
    for layer in nn.layers:
        if layer.name == name:
            return layer
    raise SurgeryError(f"no layer named '{name}' while repairing the network")


def remove_layers(nn: Any, names: set[str]) -> None:
    """Delete the layers called ``names`` from ``nn``, keeping the others' order."""
    for index in reversed(range(len(nn.layers))):
        if nn.layers[index].name in names:
            del nn.layers[index]


def insert_before(nn: Any, name: str, new_layer: Any) -> None:
    """Insert ``new_layer`` right before the layer called ``name``."""
    kept = [proto.NeuralNetworkLayer() for _ in nn.layers]
    for copy, layer in zip(kept, nn.layers, strict=True):
        copy.CopyFrom(layer)
    del nn.layers[:]
    for layer in kept:
        if layer.name == name:
            nn.layers.add().CopyFrom(new_layer)
        nn.layers.add().CopyFrom(layer)
