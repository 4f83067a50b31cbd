"""Command line: A JSON-ready summary of a model, for ``updatable inspect``.

It reads any spec, including invalid ones (inspecting a broken model is how one finds out
what is wrong), so it reads the protobuf fields directly instead of building checked objects.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from updatable import proto
from updatable.cli._model_details import model_details
from updatable.model_types import MODEL_TYPES, describe
from updatable.params import describe_proto
from updatable.spec import (
    NEURAL_NETWORK_TYPES,
    PIPELINE_TYPES,
    layer_kind,
    model_type,
    pipeline_models,
    weight_params,
)

_DTYPES = {v: k for k, v in proto.ArrayFeatureType.ArrayDataType.items()}
_COLOR_SPACES = {v: k for k, v in proto.ImageFeatureType.ColorSpace.items()}
_MAX_LABELS = 20  # longer label lists are cut in the summary


def summarize(spec: proto.Model) -> dict[str, Any]:
    """Type, version, interface and training setup of ``spec`` (and its sub-models)."""
    kind = model_type(spec)
    description = spec.description
    summary = {
        "type": kind,
        "does": describe(kind),
        "runs": MODEL_TYPES[kind].runs if kind in MODEL_TYPES else False,
        "specificationVersion": spec.specificationVersion,
        "isUpdatable": spec.isUpdatable,
        "inputs": [_feature(f) for f in description.input],
        "outputs": [_feature(f) for f in description.output],
        "trainingInputs": [_feature(f) for f in description.trainingInput],
    }
    for name in ("predictedFeatureName", "predictedProbabilitiesName"):
        if getattr(description, name):
            summary[name] = getattr(description, name)
    if kind in NEURAL_NETWORK_TYPES:
        summary.update(_network(getattr(spec, kind)))
    elif kind == "kNearestNeighborsClassifier":
        summary["knn"] = _knn(spec.kNearestNeighborsClassifier)
    elif kind in PIPELINE_TYPES:
        summary["models"] = [summarize(model) for model in pipeline_models(spec)]
    elif model_details(spec) is not None:
        summary["details"] = model_details(spec)
    elif kind == "linkedModel":
        link = spec.linkedModel.linkedModelFile
        summary["link"] = {
            "fileName": link.linkedModelFileName.defaultValue,
            "searchPath": link.linkedModelSearchPath.defaultValue,
        }
    return summary


def feature_type(feature_type_message: Any) -> str:
    """``"MultiArray FLOAT32 [1, 28, 28]"``, ``"Image GRAYSCALE 28x28"``, ``"String"``..."""
    kind = feature_type_message.WhichOneof("Type")
    if kind == "multiArrayType":
        array = feature_type_message.multiArrayType
        dtype = _DTYPES.get(array.dataType, str(array.dataType))
        return f"MultiArray {dtype} {list(array.shape)}"
    if kind == "imageType":
        image = feature_type_message.imageType
        space = _COLOR_SPACES.get(image.colorSpace, str(image.colorSpace))
        return f"Image {space} {image.width}x{image.height}"
    if kind == "dictionaryType":
        key = feature_type_message.dictionaryType.WhichOneof("KeyType") or "?"
        return f"Dictionary({key.replace('KeyType', '').capitalize()} -> Double)"
    if kind == "sequenceType":
        return f"Sequence({feature_type_message.sequenceType.WhichOneof('Type')})"
    names = {"int64Type": "Int64", "doubleType": "Double", "stringType": "String"}
    return names.get(kind, kind or "none")


def _feature(feature: proto.FeatureDescription) -> dict[str, Any]:
    view = {"name": feature.name, "type": feature_type(feature.type)}
    if feature.shortDescription:
        view["description"] = feature.shortDescription
    return view


def _network(nn: proto.Message) -> dict[str, Any]:
    view: dict[str, Any] = {"layers": [_layer(layer) for layer in nn.layers]}
    labels_kind = nn.WhichOneof("ClassLabels") if hasattr(nn, "stringClassLabels") else None
    if labels_kind:
        labels = list(getattr(nn, labels_kind).vector)
        view["classLabels"] = {
            "type": "String" if labels_kind == "stringClassLabels" else "Int64",
            "count": len(labels),
            "labels": labels[:_MAX_LABELS],
        }
    view["training"] = _training(nn.updateParams) if nn.HasField("updateParams") else None
    return view


def _layer(layer: proto.NeuralNetworkLayer) -> dict[str, Any]:
    kind = layer_kind(layer)
    params = getattr(layer, kind) if kind else None
    view = {
        "name": layer.name,
        "kind": kind,
        "inputs": list(layer.input),
        "outputs": list(layer.output),
        "updatable": layer.isUpdatable,
        "weights": {},
    }
    shapes = _weight_shapes(kind, params)
    for field, weights in weight_params(layer):
        view["weights"][field] = {
            "shape": shapes.get(field, [_value_count(weights)]),
            "storage": _storage(weights),
            "updatable": weights.isUpdatable,
        }
    detail = _detail(kind, params)
    if detail:
        view["detail"] = detail
    return view


def _weight_shapes(kind: Any, params: proto.Message) -> dict[str, Any]:
    if kind == "innerProduct":
        return {
            "weights": [params.outputChannels, params.inputChannels],
            "bias": [params.outputChannels],
        }
    if kind == "convolution":
        height, width = list(params.kernelSize) or [3, 3]
        out, channels = params.outputChannels, params.kernelChannels
        first, second = (
            (channels, out // max(params.nGroups, 1)) if params.isDeconvolution else (out, channels)
        )
        return {"weights": [first, second, height, width], "bias": [out]}
    return {}


def _value_count(weights: proto.WeightParams) -> int:
    if weights.floatValue:
        return len(weights.floatValue)
    if weights.float16Value:
        return len(weights.float16Value) // 2
    return len(weights.rawValue) or len(weights.int8RawValue)


def _storage(weights: proto.WeightParams) -> str:
    if weights.HasField("quantization"):
        return f"quantized {weights.quantization.numberOfBits}-bit"
    if weights.float16Value:
        return "float16"
    if weights.int8RawValue:
        return "int8"
    if weights.rawValue:
        return "raw"
    return "float32"


def _detail(kind: Any, params: proto.Message) -> str:
    if kind == "innerProduct":
        return f"{params.inputChannels} -> {params.outputChannels}" + (
            "" if params.hasBias else ", no bias"
        )
    if kind == "convolution":
        height, width = list(params.kernelSize) or [3, 3]
        stride = "x".join(str(s) for s in params.stride) or "1x1"
        padding = params.WhichOneof("ConvolutionPaddingType") or "valid"
        text = f"{params.kernelChannels * max(params.nGroups, 1)} -> {params.outputChannels}"
        text += f", {height}x{width} stride {stride} {padding}"
        if params.nGroups > 1:
            text += f", {params.nGroups} groups"
        return text + (", deconvolution" if params.isDeconvolution else "")
    if kind == "activation":
        return params.WhichOneof("NonlinearityType") or ""
    if kind == "pooling":
        pool = proto.NeuralNetwork_pb2.PoolingLayerParams.PoolingType.Name(params.type)
        return f"{pool} {'x'.join(str(k) for k in params.kernelSize)}"
    return ""


def _training(update: Any) -> dict[str, Any]:
    view: dict[str, Any] = {"losses": [], "optimizer": None}
    for loss in update.lossLayers:
        kind = loss.WhichOneof("LossLayerType")
        fields = getattr(loss, kind) if kind else None
        view["losses"].append(
            {
                "name": loss.name,
                "type": kind,
                "input": fields.input if fields else "",
                "target": fields.target if fields else "",
            }
        )
    optimizer = (
        update.optimizer.WhichOneof("OptimizerType") if update.HasField("optimizer") else None
    )
    if optimizer:
        chosen = getattr(update.optimizer, optimizer)
        view["optimizer"] = {"type": optimizer.replace("Optimizer", "")}
        for field, _ in chosen.ListFields():
            view["optimizer"][field.name] = describe_proto(getattr(chosen, field.name))
    view["epochs"] = describe_proto(update.epochs) if update.HasField("epochs") else None
    view["shuffle"] = update.shuffle.defaultValue if update.HasField("shuffle") else None
    view["seed"] = describe_proto(update.seed) if update.HasField("seed") else None
    return view


def _knn(knn: proto.KNearestNeighborsClassifier) -> dict[str, Any]:
    index = knn.nearestNeighborsIndex
    labels_kind = knn.WhichOneof("ClassLabels")
    labels = list(getattr(knn, labels_kind).vector) if labels_kind else []
    default = knn.WhichOneof("DefaultClassLabel")
    view = {
        "dimensions": index.numberOfDimensions,
        "numberOfNeighbors": describe_proto(knn.numberOfNeighbors),
        "weighting": knn.WhichOneof("WeightingScheme"),
        "index": index.WhichOneof("IndexType"),
        "distance": index.WhichOneof("DistanceFunction"),
        "samples": len(index.floatSamples),
        "labelType": {"stringClassLabels": "String", "int64ClassLabels": "Int64"}.get(labels_kind),
        "defaultLabel": getattr(knn, default) if default else None,
        "labelCounts": dict(Counter(labels).most_common(_MAX_LABELS)),
    }
    if view["index"] == "singleKdTreeIndex":
        view["leafSize"] = index.singleKdTreeIndex.leafSize
    return view
