"""Spec side, validation layer: our lint X13: a neural network using a feature newer than its
``specificationVersion``.

Core ML's validator does not compare features with the declared version, but a device whose
Core ML predates a feature cannot read a model that uses it, and coremltools never writes such
a model: when it saves one, it sets the version to the newest feature's
(``downgradeSpecificationVersion``). Which feature needs which version is read from coremltools
``mlmodel/src/Utils.cpp`` (``hasIOS11_2Features`` ... ``hasIOS14Features`` and
``isIOS12NeuralNetworkLayer``), for networks: version 2 (iOS 11.2) custom layers and FP16
weights; 3 (iOS 12) resizeBilinear, cropResize and unsigned quantized weights; 4 (iOS 13)
every layer kind (or form) newer than iOS 12 and the N-d shape mappings; 5 (iOS 14) the
layers and options of ``_IOS14_KINDS`` and ``_ios14_option``. Unlike coremltools (top-level
layers only), layers of nested networks count too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from updatable import proto
from updatable.spec import NEURAL_NETWORK_TYPES, weight_params
from updatable.validation.issues import At, Issue
from updatable.validation.layer_rules.walk import is_ios12_layer
from updatable.validation.layer_rules.weights import WeightType, value_type

_OS = {2: "iOS 11.2", 3: "iOS 12", 4: "iOS 13", 5: "iOS 14"}
_IOS14_KINDS = frozenset(
    "cumSum oneHot clampedReLU argSort pooling3d globalPooling3d sliceBySize convolution3d".split()
)
_PIXEL_SHUFFLE = proto.NeuralNetwork_pb2.ReorganizeDataLayerParams.PIXEL_SHUFFLE


def _ios14_option(layer: proto.NeuralNetworkLayer, kind: str) -> str | None:
    """An iOS 14 option of an older layer kind."""
    if kind == "sliceDynamic" and (len(layer.input) == 7 or len(layer.sliceDynamic.squeezeMasks)):
        return "sliceDynamic with squeezeMasks or 7 inputs"
    if kind == "upsample" and (
        layer.upsample.linearUpsampleMode or len(layer.upsample.fractionalScalingFactor)
    ):
        return "upsample with an align-corners mode or fractional scaling factors"
    if kind == "reorganizeData" and layer.reorganizeData.mode == _PIXEL_SHUFFLE:
        return "reorganizeData in PIXEL_SHUFFLE mode"
    if kind in ("innerProduct", "batchedMatmul") and getattr(layer, kind).int8DynamicQuantize:
        return f"{kind} with int8DynamicQuantize"
    if kind == "concatND" and layer.concatND.interleave:
        return "concatND with interleave"
    return None


def _layer_need(layer: proto.NeuralNetworkLayer) -> tuple[int, str]:
    """(the least specification version that reads ``layer``, what needs it)."""
    kind = layer.WhichOneof("layer") or ""
    option = _ios14_option(layer, kind)
    if kind in _IOS14_KINDS or option:
        return 5, option or kind
    if not is_ios12_layer(layer):
        return 4, kind
    weights = [value_type(w) for _, w in weight_params(layer)]
    if kind in ("resizeBilinear", "cropResize"):
        return 3, kind
    if WeightType.QUINT in weights:
        return 3, f"{kind} with quantized weights"
    if kind == "custom":
        return 2, kind
    if WeightType.FLOAT16 in weights:
        return 2, f"{kind} with float16 weights"
    return 1, kind


def _all_layers(container: Any) -> Iterator[Any]:
    for layer in container.layers:
        yield layer
        kind = layer.WhichOneof("layer")
        if kind == "loop":
            yield from _all_layers(layer.loop.conditionNetwork)
            yield from _all_layers(layer.loop.bodyNetwork)
        elif kind == "branch":
            yield from _all_layers(layer.branch.ifBranch)
            yield from _all_layers(layer.branch.elseBranch)


def features_fit_the_version(model: proto.Model, at: At) -> Iterator[Issue]:
    """X13 (warning): the network's newest feature needs a newer specification version than
    the model declares (one finding: the first feature of the newest version)."""
    kind = model.WhichOneof("Type")
    version = model.specificationVersion
    if kind not in NEURAL_NETWORK_TYPES or not 1 <= version < 5:
        return
    nn = getattr(model, kind)
    need, what, where = 1, "", "layers"
    if nn.arrayInputShapeMapping or nn.imageInputShapeMapping:
        need, what, where = 4, "an N-d input shape mapping", "arrayInputShapeMapping"
    for layer in _all_layers(nn):
        layer_need, layer_what = _layer_need(layer)
        if layer_need > need:
            need, what, where = layer_need, layer_what, f"layers['{layer.name}']"
    if need > version:
        message = (
            f"{what} needs specification version {need} ({_OS[need]}), but the model declares "
            f"{version}: Core ML before {_OS[need]} cannot read it; set specificationVersion "
            f"to {need} (coremltools does when it saves the model)"
        )
        yield at.lint("X13", "warning", where, message)
