"""Runtime, ONNX layer: Core ML neural network -> ONNX graph.

One converter per Core ML layer kind, in the explicit table :data:`CONVERTERS` keyed by the
``NeuralNetworkLayer.layer`` oneof name (house rule 1). A layer of any other kind raises
:class:`~updatable.errors.UnsupportedLayerError` naming the layer, its kind and the kinds that
export.

Layouts. Inputs take the toolkit's feature-batch layout (docs/ARCHITECTURE.md): a multiArray
``[d0, ...]`` is ``(N, d0, ...)`` float32 and an image is ``(N, H, W, C)`` float32 pixel values
in the image's channel order; the network's image preprocessing (scaler: ``channelScale * x +
bias`` per channel; mean image) runs inside the graph. Inside the graph every Core ML blob is an
ONNX tensor ``(N, C, H, W)``. Outputs are reshaped to their declared shape ``(N, d0, ...)``; a
classifier's probability dictionary becomes an ``(N, classes)`` tensor named like the output,
and its label output (a string or int chosen by argmax) is left to the caller: the class labels
are in the model's ``metadata_props`` under ``coreml.classLabels``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

import onnx

from runtime.nn.graph import EXACT_ARRAY_MAPPING, compile_network, input_shape
from runtime.ort import converters_nd as nd_shape
from runtime.ort import converters_nn as nn
from runtime.ort import converters_tensor as tensor
from runtime.ort.onnx_graph import BATCH, CHW, GraphBuilder
from updatable import spec as spec_io
from updatable.errors import UnsupportedLayerError, UnsupportedModelError

# layer kind -> converter(g, layer, xs, in_shapes, ys[, rank=]) -> the outputs' shapes
CONVERTERS: dict[str, Callable[..., list[CHW]]] = {
    "convolution": nn.convolution,
    "innerProduct": nn.inner_product,
    "batchnorm": nn.batchnorm,
    "activation": nn.activation,
    "pooling": nn.pooling,
    "softmax": nn.softmax,
    "flatten": nn.flatten,
    "lrn": nn.lrn,
    "l2normalize": nn.l2normalize,
    "add": tensor.add,
    "multiply": tensor.multiply,
    "average": tensor.average,
    "max": tensor.maximum,
    "min": tensor.minimum,
    "concat": tensor.concat,
    "reshape": tensor.reshape,
    "permute": tensor.permute,
    "padding": tensor.padding,
    "upsample": tensor.upsample,
    "scale": tensor.scale,
    "bias": tensor.bias,
    "unary": tensor.unary,
    "crop": tensor.crop,
    "split": tensor.split,
    "slice": tensor.slice_,
    "reduce": tensor.reduce,
    "dot": tensor.dot,
    "clip": tensor.clip,
    "copy": tensor.copy,
    "loadConstant": tensor.load_constant,
    "squeeze": tensor.squeeze_or_expand,
    "expandDims": tensor.squeeze_or_expand,
    "reshapeStatic": nd_shape.reshape_static,
    "flattenTo2D": nd_shape.reshape_static,
    "reduceMean": nd_shape.reduce_mean,
}
# kinds whose converter takes the input's Core ML rank (runtime.nn.layers.squeeze)
RANK_CHANGING = ("squeeze", "expandDims", "reshapeStatic", "flattenTo2D", "reduceMean")


@dataclass(frozen=True)
class Fetch:
    """A blob the graph returns: ONNX output ``name`` shaped ``(N, *dims)``; raw
    ``(N, C, H, W)`` when ``dims`` is ``None``; with ``dims == ()`` (no declared shape, e.g. a
    probability dictionary) ``(N, C)`` when ``H == W == 1``, else raw."""

    blob: str
    name: str
    dims: tuple[int, ...] | None = None


def export_onnx(spec, *, outputs: Sequence[str] | None = None) -> onnx.ModelProto:
    """The inference graph of a neural-network model (see the module docstring for layouts).

    Args:
        spec: a ``Model`` protobuf whose type is a neural network (plain, classifier or
            regressor), or its ``.mlmodel`` path or coremltools ``MLModel``.
        outputs: blob names to return instead of the declared outputs (each raw
            ``(N, C, H, W)``, e.g. to inspect an intermediate layer).

    Raises:
        UnsupportedLayerError: a layer kind ONNX export does not cover, or a layer option
            (e.g. sequence concatenation) outside what the runtime supports.
        UnsupportedModelError: not a neural network, or an input type that cannot be fed.
    """
    spec = spec_io.as_spec(spec, "export_onnx")
    if outputs is None:
        fetches = declared_fetches(spec)
    else:
        fetches = [Fetch(blob, blob) for blob in outputs]
    model, _ = convert_network(
        spec, fetches, name=spec.description.metadata.shortDescription or "coreml_model"
    )
    return model


def declared_fetches(spec) -> list[Fetch]:
    """The model's outputs that a network blob of the same name provides."""
    blobs = {out for layer in spec_io.network(spec).layers for out in layer.output}
    fetches = []
    for feature in spec.description.output:
        if feature.name in blobs:
            array = feature.type.multiArrayType
            dims = (
                tuple(int(d) for d in array.shape)
                if feature.type.HasField("multiArrayType")
                else ()
            )
            fetches.append(Fetch(feature.name, feature.name, dims))
    if not fetches:
        raise UnsupportedModelError(
            "no declared output of the model is produced by a network layer; outputs: "
            f"{[f.name for f in spec.description.output]}"
        )
    return fetches


def needed_layers(layers, fetch_blobs: Collection[str], fed: Collection[str] = ()) -> list[int]:
    """Indices of the layers needed to compute ``fetch_blobs`` from the inputs and ``fed``."""
    wanted, needed = set(fetch_blobs) - set(fed), []
    for index in range(len(layers) - 1, -1, -1):
        produced = wanted.intersection(layers[index].output)
        if produced:
            needed.append(index)
            wanted -= produced
            wanted.update(b for b in layers[index].input if b not in fed)
    return needed[::-1]


def convert_network(
    spec,
    fetches: Sequence[Fetch],
    *,
    feeds: Mapping[str, CHW] | None = None,
    name: str = "coreml_model",
) -> tuple[onnx.ModelProto, dict[str, CHW]]:
    """Build the ONNX graph computing ``fetches``, with the blobs in ``feeds`` as raw
    ``(N, C, H, W)`` graph inputs (shapes given) and model inputs fed in feature layout.

    Returns the model and the per-example ``(C, H, W)`` shape of every blob it computes.
    """
    network = spec_io.network(spec)
    feeds = dict(feeds or {})
    layers = network.layers
    g = GraphBuilder(name)
    for fetch in fetches:
        g.fresh(fetch.name)  # reserve: the blob's own value gets another name
    for blob, shape in feeds.items():
        g.add_input(blob, [BATCH, *shape])
        g.shapes[blob] = shape
    shapes: dict[str, CHW] = dict(feeds)
    inputs = {feature.name: feature for feature in spec.description.input}
    nd = network.arrayInputShapeMapping == EXACT_ARRAY_MAPPING
    kinds = {spec_io.layer_kind(x) for x in layers}
    ranks = _ranks(spec) if kinds & {*RANK_CHANGING} or (nd and "innerProduct" in kinds) else {}
    for index in needed_layers(layers, [f.blob for f in fetches], feeds):
        layer = layers[index]
        kind = spec_io.layer_kind(layer)
        converter = CONVERTERS.get(kind)
        if converter is None:
            raise UnsupportedLayerError(
                f"layer '{layer.name}' has kind '{kind or 'unset'}', which the ONNX export "
                f"does not support; supported kinds: {sorted(CONVERTERS)}"
            )
        for blob in layer.input:
            if not g.has(blob):
                if blob not in inputs:
                    raise UnsupportedModelError(
                        f"layer '{layer.name}' reads blob '{blob}', which no earlier layer "
                        "produces and which is not a model input"
                    )
                shapes[blob] = _add_model_input(g, network, inputs[blob])
        xs = [g.value(blob) for blob in layer.input]
        ys = [g.define(blob) for blob in layer.output]
        in_shapes = [shapes[b] for b in layer.input]
        if kind in RANK_CHANGING:
            out_shapes = converter(g, layer, xs, in_shapes, ys, rank=ranks[layer.input[0]])
        else:
            out_shapes = converter(g, layer, xs, in_shapes, ys)
        if kind == "innerProduct" and ranks.get(layer.output[0], 3) <= 2:
            # an N-D [1, Cout] right-aligned is [C, H, W] = [1, 1, Cout] for the rank-aware
            # converters that follow (innerProduct itself writes [Cout, 1, 1])
            out_shapes = [(1, 1, out_shapes[0][0])]
            g.reshape(ys[0], [0, *out_shapes[0]], g.define(layer.output[0]))
        shapes.update(zip(layer.output, out_shapes, strict=True))
    for fetch in fetches:
        _add_fetch(g, fetch, shapes)
    return g.to_model(_metadata(spec)), shapes


def _ranks(spec) -> dict[str, int]:
    """Core ML's rank of every blob, as the runtime's compiled network tracks it."""
    return {name: tensor.rank for name, tensor in compile_network(spec).tensors.items()}


def _add_model_input(g: GraphBuilder, network, feature) -> CHW:
    kind = feature.type.WhichOneof("Type")
    if kind == "multiArrayType":
        dims = [int(d) for d in feature.type.multiArrayType.shape]
        x = g.add_input(feature.name, [BATCH, *dims])
        if network.arrayInputShapeMapping == EXACT_ARRAY_MAPPING:
            # a tensor of the declared rank, read as [C, H, W] from its last three axes
            shape = input_shape(feature, exact=True)
            assert shape is not None, "a multiArray input has a shape"
            height, width, channels = shape
            g.reshape(x, [0, channels, height, width], g.define(feature.name))
            return (channels, height, width)
        if len(dims) == 1:
            g.reshape(x, [0, dims[0], 1, 1], g.define(feature.name))
            return (dims[0], 1, 1)
        if len(dims) == 3:
            return (dims[0], dims[1], dims[2])
        raise UnsupportedModelError(
            f"input '{feature.name}' has shape {dims}; rank-1 [C] or rank-3 [C, H, W] "
            "multiArrays are supported"
        )
    if kind == "imageType":
        image = feature.type.imageType
        space = image.ColorSpace.Name(image.colorSpace)
        if space not in ("GRAYSCALE", "RGB", "BGR"):
            raise UnsupportedModelError(
                f"input '{feature.name}' has colour space {space}; expected GRAYSCALE, RGB or BGR"
            )
        c, h, w = (1 if space == "GRAYSCALE" else 3), int(image.height), int(image.width)
        x = g.add_input(feature.name, [BATCH, h, w, c])
        x = g.node("Transpose", [x], perm=[0, 3, 1, 2])
        for step in network.preprocessing:
            if step.featureName in ("", feature.name):
                x = _preprocess(g, step, space, (c, h, w), x)
        g.node("Identity", [x], g.define(feature.name))
        return (c, h, w)
    raise UnsupportedModelError(
        f"input '{feature.name}' has type {kind}; the network can take multiArray or image inputs"
    )


def _preprocess(g: GraphBuilder, step, space: str, shape: CHW, x: str) -> str:
    """Core ML image preprocessing: scaler (``channelScale * x + channel bias``) or mean image."""
    which = step.WhichOneof("preprocessor")
    if which == "scaler":
        s = step.scaler
        biases = {
            "GRAYSCALE": [s.grayBias],
            "RGB": [s.redBias, s.greenBias, s.blueBias],
            "BGR": [s.blueBias, s.greenBias, s.redBias],
        }[space]
        x = g.node("Mul", [x, g.const(s.channelScale)])
        return g.node("Add", [x, g.const([[[b]] for b in biases])])
    if which == "meanImage":
        mean = list(step.meanImage.meanImage)
        if len(mean) != math.prod(shape):
            raise UnsupportedModelError(
                f"the mean image of input '{step.featureName}' has {len(mean)} values; the "
                f"image has [C, H, W] = {list(shape)}"
            )
        return g.node("Sub", [x, g.reshape(g.const(mean), [1, *shape])])
    return x


def _add_fetch(g: GraphBuilder, fetch: Fetch, shapes: Mapping[str, CHW]) -> None:
    shape = shapes[fetch.blob]
    dims = fetch.dims
    if dims == ():
        dims = shape[:1] if shape[1:] == (1, 1) else shape
    elif dims is not None and math.prod(dims) != math.prod(shape):
        raise UnsupportedModelError(
            f"output '{fetch.name}' is declared with shape {list(dims)}, but blob "
            f"'{fetch.blob}' has [C, H, W] = {list(shape)}"
        )
    if dims is None:
        dims = shape
    g.reshape(g.value(fetch.blob), [0, *dims], fetch.name)
    g.add_output(fetch.name, [BATCH, *dims])


def _metadata(spec) -> dict[str, str]:
    meta = {"coreml.modelType": spec_io.model_type(spec)}
    if spec_io.model_type(spec) == "neuralNetworkClassifier":
        classifier = spec.neuralNetworkClassifier
        which = classifier.WhichOneof("ClassLabels")
        labels = list(getattr(classifier, which).vector) if which else []
        meta["coreml.classLabels"] = json.dumps(labels)
        meta["coreml.predictedFeatureName"] = spec.description.predictedFeatureName
        meta["coreml.predictedProbabilitiesName"] = spec.description.predictedProbabilitiesName
    return meta
