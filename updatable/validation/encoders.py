"""Spec side, validation layer: the feature-engineering models that reshape or encode features:
``featureVectorizer`` (FV1-FV3), ``oneHotEncoder`` (OH1-OH3), ``arrayFeatureExtractor``
(AE1-AE3), ``dictVectorizer`` (DV1-DV3) and ``categoricalMapping`` (CM1-CM4).

Source: coremltools ``mlmodel/src/Validation/{FeatureVectorizer,OneHotEncoder,
ArrayFeatureExtractor,DictVectorizer,CategoricalMapping}Validator.cpp``, in their order and with
their messages ("tha zero" and "outupt" included). Each of them first validates the model
description again, which the generic rule G3 already did with the same result; that repeat is
not reproduced. ``identity`` models have no check of their own ("all identities are valid").
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from updatable import proto
from updatable.validation.issues import FEATURE_TYPE, MODEL_PARAMS, At, Issue
from updatable.validation.schema import features_problem, type_name


def _interface(
    model: proto.Model, at: At, inputs: tuple[Any, ...], outputs: tuple[Any, ...]
) -> Iterator[Issue]:
    """``inputs`` / ``outputs``: ``(rule id, most features (0: any), allowed types)``; the
    inputs are checked first, and only the first problem is reported."""
    description = model.description
    for io, (code, count, allowed) in (("input", inputs), ("output", outputs)):
        problem = features_problem(getattr(description, io), count, allowed)
        if problem is not None:
            yield at.error(code, f"description.{io}", *problem)
            return


def vectorizer_features(model: proto.Model, at: At) -> Iterator[Issue]:
    """FV1 / FV2: any number of Int64, Double, multiArray or dictionary inputs; at most one
    output, a multiArray."""
    allowed = ("int64Type", "doubleType", "multiArrayType", "dictionaryType")
    yield from _interface(model, at, ("FV1", 0, allowed), ("FV2", 1, ("multiArrayType",)))


def vectorizer_dimensions(model: proto.Model, at: At) -> Iterator[Issue]:
    """FV3: every input column contributes a positive number of values."""
    for i, column in enumerate(model.featureVectorizer.inputList):
        if column.inputDimensions <= 0:
            message = "Dimension size must be greater tha zero."
            yield at.error("FV3", f"featureVectorizer.inputList[{i}]", message, MODEL_PARAMS)
            return


def one_hot_features(model: proto.Model, at: At) -> Iterator[Issue]:
    """OH1 / OH2: one Int64 or String input; one output, a dictionary when ``outputSparse``
    else a multiArray."""
    output = "dictionaryType" if model.oneHotEncoder.outputSparse else "multiArrayType"
    yield from _interface(model, at, ("OH1", 1, ("int64Type", "stringType")), ("OH2", 1, (output,)))


def one_hot_categories(model: proto.Model, at: At) -> Iterator[Issue]:
    """OH3: the categories are set (strings or integers)."""
    if model.oneHotEncoder.WhichOneof("CategoryType") is None:
        message = "OneHotEncoder parameter incorrect type"
        yield at.error("OH3", "oneHotEncoder", message, MODEL_PARAMS)


def extractor_features(model: proto.Model, at: At) -> Iterator[Issue]:
    """AE1 / AE2: one multiArray input; one output, a Double, Int64 or multiArray."""
    allowed = ("doubleType", "int64Type", "multiArrayType")
    yield from _interface(model, at, ("AE1", 1, ("multiArrayType",)), ("AE2", 1, allowed))


def extractor_indices(model: proto.Model, at: At) -> Iterator[Issue]:
    """AE3: exactly one input; a Double output extracts exactly one index. (Core ML does not
    check the indexes against the input's length.)"""
    description = model.description
    if len(description.input) != 1:
        message = "Exactly one input array column must be specified."
        yield at.error("AE3", "description.input", message, MODEL_PARAMS)
        return
    output = description.output[0].type.WhichOneof("Type")
    if output == "doubleType" and len(model.arrayFeatureExtractor.extractIndex) != 1:
        message = (
            "If output type is Double in interface, exactly one extraction index must be specified."
        )
        yield at.error("AE3", "arrayFeatureExtractor.extractIndex", message, MODEL_PARAMS)


def dict_vectorizer_features(model: proto.Model, at: At) -> Iterator[Issue]:
    """DV1 / DV2: one dictionary input and one dictionary output (Core ML's validator asks for
    a dictionary output: the vectorized values come out keyed by their index)."""
    dictionary = ("dictionaryType",)
    yield from _interface(model, at, ("DV1", 1, dictionary), ("DV2", 1, dictionary))


def dict_vectorizer_map(model: proto.Model, at: At) -> Iterator[Issue]:
    """DV3: the key-to-index map is set (string or integer keys)."""
    if model.dictVectorizer.WhichOneof("Map") is None:
        message = "DictVectorizerValidator parameter not set"
        yield at.error("DV3", "dictVectorizer", message, MODEL_PARAMS)


# mapping -> (the input type, the output type, the default that would have the wrong type)
_MAPPINGS = {
    "stringToInt64Map": ("stringType", "int64Type", "strValue"),
    "int64ToStringMap": ("int64Type", "stringType", "int64Value"),
}


def mapping_set(model: proto.Model, at: At) -> Iterator[Issue]:
    """CM1: a mapping is set, and its default for unknown inputs has the output's type."""
    mapping = model.categoricalMapping
    kind, default = mapping.WhichOneof("MappingType"), mapping.WhichOneof("ValueOnUnknown")
    if kind is None:
        yield at.error("CM1", "categoricalMapping", "Mapping not set.", MODEL_PARAMS)
    elif default == _MAPPINGS[kind][2]:
        message = {
            "strValue": "ValueOnUnknown set to string value while mapping produces int64.",
            "int64Value": "ValueOnUnknown set to Int64 value while mapping produces string.",
        }[default]
        yield at.error("CM1", f"categoricalMapping.{default}", message, MODEL_PARAMS)


def mapping_features(model: proto.Model, at: At) -> Iterator[Issue]:
    """CM2-CM4: one input of the mapping's input type or a sequence; one output likewise (CM2,
    CM3); a sequence input holds the input type and maps to a sequence of the output type (CM4).
    """
    description = model.description
    source, target, _ = _MAPPINGS[model.categoricalMapping.WhichOneof("MappingType")]
    interface = list(
        _interface(
            model, at, ("CM2", 1, (source, "sequenceType")), ("CM3", 1, (target, "sequenceType"))
        )
    )
    if interface:
        yield interface[0]
        return
    if description.input[0].type.WhichOneof("Type") != "sequenceType":
        return
    output = description.output[0].type
    # The missing spaces before "of" are Core ML's.
    if description.input[0].type.sequenceType.WhichOneof("Type") != source:
        message = f"Input sequence type does not match input type {type_name(source)}of " + (
            "categorical mapping."
        )
        yield at.error("CM4", "description.input", message, FEATURE_TYPE)
    elif output.WhichOneof("Type") != "sequenceType":
        message = "Output of a sequence categorical mapping must be a sequence"
        yield at.error("CM4", "description.output", message, FEATURE_TYPE)
    elif output.sequenceType.WhichOneof("Type") != target:
        message = f"Output sequence type does not match input type {type_name(target)}of " + (
            "categorical mapping."
        )
        yield at.error("CM4", "description.output", message, FEATURE_TYPE)


FEATURE_VECTORIZER = (vectorizer_features, vectorizer_dimensions)
ONE_HOT_ENCODER = (one_hot_features, one_hot_categories)
ARRAY_FEATURE_EXTRACTOR = (extractor_features, extractor_indices)
DICT_VECTORIZER = (dict_vectorizer_features, dict_vectorizer_map)
# mapping_features reads the mapping: it runs only after mapping_set passed (the driver stops
# at the first issue)
CATEGORICAL_MAPPING = (mapping_set, mapping_features)
