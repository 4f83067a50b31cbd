"""Spec side, validation layer: checks every Core ML model goes through (G1-G7), and the
model-interface helpers.

Source: coremltools ``mlmodel/src/Model.cpp`` (``Model::validateGeneric``),
``Validation/InterfaceValidators.cpp`` (the feature descriptions of G3 are in
``features``), ``Validation/Validators.hpp`` and
``Validation/ValidatorUtils-inl.hpp`` for the messages, ``Comparison.cpp`` for feature-type
equality. Helpers return ``(message, result_type)`` or ``None`` so that each model type can file
the same Core ML check under its own rule id.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from updatable import proto
from updatable.validation.features import Problem, description_problem
from updatable.validation.issues import (
    COMPAT,
    FEATURE_TYPE,
    INTERFACE,
    MODEL_PARAMS,
    NAME_MISMATCH,
    UNSUPPORTED,
    UPD_PARAMS,
    At,
    Issue,
)

NEWEST_VERSION = 10  # MLMODEL_SPECIFICATION_VERSION at coremltools e0e2f42b
IOS13, IOS14 = 4, 5  # MLMODEL_SPECIFICATION_VERSION_IOS13 / _IOS14
UPDATABLE_TYPES = frozenset(
    {
        "neuralNetwork",
        "neuralNetworkRegressor",
        "neuralNetworkClassifier",
        "kNearestNeighborsClassifier",
        "pipeline",
        "pipelineRegressor",
        "pipelineClassifier",
    }
)
_NN_LIKE = frozenset({"neuralNetwork", "neuralNetworkRegressor", "neuralNetworkClassifier"})
_ANY_OPTIONAL_INPUT = frozenset(
    {
        "imputer",
        "treeEnsembleRegressor",
        "treeEnsembleClassifier",
        "pipeline",
        "pipelineRegressor",
        "pipelineClassifier",
        "itemSimilarityRecommender",
        "identity",
    }
)


def _kind(model: proto.Model) -> str:
    return model.WhichOneof("Type") or ""


# --- G1-G7 ------------------------------------------------------------------------------


def version_present(model: proto.Model, at: At) -> Iterator[Issue]:
    """G1: ``specificationVersion`` is set."""
    if model.specificationVersion == 0:
        message = "Model specification version field missing or corrupt."
        yield at.error("G1", "specificationVersion", message, COMPAT)


def version_supported(model: proto.Model, at: At) -> Iterator[Issue]:
    """G2: the version is not newer than the newest one this validator knows (10)."""
    version = model.specificationVersion
    if version > NEWEST_VERSION:
        # NOTE: coremltools' Model.cpp writes ".mlmodel supplied" in every version we read.
        message = (
            f"The .mlmodel supplied is of version {version}, intended for a newer version of "
            f"Xcode. This version of Xcode supports model version {NEWEST_VERSION} or earlier."
        )
        yield at.error("G2", "specificationVersion", message, UNSUPPORTED)


def description_valid(model: proto.Model, at: At) -> Iterator[Issue]:
    """G3: inputs and outputs present; every feature named and typed; types well formed.

    ``trainingInput`` is not validated here (Core ML never does).
    """
    problem = description_problem(model.description, model.specificationVersion, _kind(model))
    if problem is not None:
        yield at.error("G3", "description", *problem)


def updatable_version(model: proto.Model, at: At) -> Iterator[Issue]:
    """G4: an updatable model has ``specificationVersion >= 4`` (pipelines included)."""
    if model.isUpdatable and model.specificationVersion < IOS13:
        message = "Model specification version for an updatable model must be '4' or above."
        yield at.error("G4", "specificationVersion", message, COMPAT)


def updatable_type(model: proto.Model, at: At) -> Iterator[Issue]:
    """G5: only neural networks, kNN classifiers and pipelines may be updatable."""
    if model.isUpdatable and _kind(model) not in UPDATABLE_TYPES:
        message = "This model type is not supported for on-device update."
        yield at.error("G5", "isUpdatable", message, UPD_PARAMS)


def optional_features(model: proto.Model, at: At) -> Iterator[Issue]:
    """G6: optional inputs and outputs, per model type (``validateOptional``)."""
    kind, description = _kind(model), model.description
    for i, feature in enumerate(description.input):
        has_default = feature.type.multiArrayType.WhichOneof("defaultOptionalValue") is not None
        if feature.type.isOptional and has_default:
            if kind not in _NN_LIKE | {"serializedModel", "mlProgram"}:
                message = "Default optional values are only allowed for neural networks."
                yield at.error("G6", f"description.input[{i}]", message, MODEL_PARAMS)
                return
            if model.specificationVersion < IOS14:
                message = (
                    "Default value for optional inputs is supported from specification 5 "
                    "(iOS 14) onwards!"
                )
                yield at.error("G6", f"description.input[{i}]", message, INTERFACE)
                return
    if kind in _NN_LIKE | {"serializedModel", "mlProgram"}:
        # state inputs count as required
        required = [f for f in description.input if f.type.HasField("stateType")]
        required += [f for f in description.input if not f.type.isOptional]
        if description.input and not required:
            message = "At least one feature for a neural network must NOT be optional."
            yield at.error("G6", "description.input", message, MODEL_PARAMS)
            return
    elif kind not in _ANY_OPTIONAL_INPUT:
        for i, feature in enumerate(description.input):
            if feature.type.isOptional:
                message = "Features cannot be optional to this type of model."
                yield at.error("G6", f"description.input[{i}]", message, MODEL_PARAMS)
                return
    for i, feature in enumerate(description.output):
        if feature.type.isOptional:
            yield at.error(
                "G6", f"description.output[{i}]", "Outputs cannot be optional.", INTERFACE
            )
            return


def model_type_set(model: proto.Model, at: At) -> Iterator[Issue]:
    """G7: the ``Type`` oneof is set (checked by ``Model::validate`` after the generic checks)."""
    if _kind(model) == "":
        message = "Model did not specify a valid model-parameter type."
        yield at.error("G7", "Type", message, INTERFACE)


# --- classifier and regressor interfaces ---------------------------------------------------


def _type_name(kind: str | None) -> str:
    return f"MLFeatureTypeType_{kind}" if kind else "INVALID"


def named_feature_problem(
    features: Sequence[proto.FeatureDescription], name: str, allowed: Sequence[str]
) -> Problem:
    """``validateDescriptionsContainFeatureWithNameAndType``: the first feature called
    ``name`` exists and its type case is one of ``allowed`` (oneof names, e.g. ``"int64Type"``).
    """
    for feature in features:
        if feature.name == name:
            kind = feature.type.WhichOneof("Type")
            if kind in allowed:
                return None
            message = (
                f'Unsupported type "{_type_name(kind)}" for feature "{name}". '
                f"Should be one of: {', '.join(_type_name(a) for a in allowed)}."
            )
            return message, FEATURE_TYPE
    message = f"Expected feature '{name}' to the model is not present in the model description."
    return message, NAME_MISMATCH


def classifier_problem(
    model: proto.Model,
    params: proto.Message,
    *,
    allow_empty_labels: bool = False,
    default_is_int64: bool = False,
) -> Problem:
    """``validateClassifierInterface``: class labels, then the predicted feature (String or
    Int64 like the labels) and the probabilities output (dictionary or multiArray).

    The feature descriptions it validates again already passed G3.
    """
    labels = params.WhichOneof("ClassLabels")
    if labels == "int64ClassLabels":
        if not allow_empty_labels and not len(params.int64ClassLabels.vector):
            return (
                "Classifier declared to have Int64 class labels must provide labels.",
                MODEL_PARAMS,
            )
        is_int64 = True
    elif labels == "stringClassLabels":
        if not allow_empty_labels and not len(params.stringClassLabels.vector):
            return (
                "Classifier declared to have String class labels must provide labels.",
                MODEL_PARAMS,
            )
        is_int64 = False
    else:
        if not allow_empty_labels:
            return "Classifier models must provide class labels.", MODEL_PARAMS
        is_int64 = default_is_int64
    description = model.description
    if not description.predictedFeatureName:
        return "Specification is missing classifier predictedFeatureName", INTERFACE
    label_type = ("int64Type",) if is_int64 else ("stringType",)
    problem = named_feature_problem(
        description.output, description.predictedFeatureName, label_type
    )
    if problem is None and description.predictedProbabilitiesName:
        probabilities = ("multiArrayType", "dictionaryType")
        name = description.predictedProbabilitiesName
        problem = named_feature_problem(description.output, name, probabilities)
    return problem


def regressor_problem(model: proto.Model) -> Problem:
    """``validateRegressorInterface``: the predicted feature is a Double or multiArray output."""
    name = model.description.predictedFeatureName
    if not name:
        return "Specification is missing regressor predictedFeatureName.", INTERFACE
    return named_feature_problem(model.description.output, name, ("doubleType", "multiArrayType"))


# --- feature-type equality (Comparison.cpp) -------------------------------------------------


def _rank(array: Any) -> int:
    flexibility = array.WhichOneof("ShapeFlexibility")
    if flexibility == "enumeratedShapes":
        shapes = array.enumeratedShapes.shapes
        return len(shapes[0].shape) if len(shapes) else 0  # Core ML reads shapes(0) unchecked
    if flexibility == "shapeRange":
        return len(array.shapeRange.sizeRanges)
    return len(array.shape)


def same_feature_type(a: Any, b: Any) -> bool:
    """``FeatureType ==`` as Core ML defines it: ignores ``isOptional``; multiArrays compare
    dtype and rank, and the shape only when neither side is flexible; images compare width,
    height and colour space; dictionaries the key type; sequences the element type.
    """
    kind = a.WhichOneof("Type")
    if kind != b.WhichOneof("Type"):
        return False
    if kind == "multiArrayType":
        x, y = a.multiArrayType, b.multiArrayType
        if x.dataType != y.dataType or _rank(x) != _rank(y):
            return False
        if x.WhichOneof("ShapeFlexibility") is None and y.WhichOneof("ShapeFlexibility") is None:
            return list(x.shape) == list(y.shape)
        return True
    if kind == "imageType":
        x, y = a.imageType, b.imageType
        return (x.width, x.height, x.colorSpace) == (y.width, y.height, y.colorSpace)
    if kind == "dictionaryType":
        return bool(
            a.dictionaryType.WhichOneof("KeyType") == b.dictionaryType.WhichOneof("KeyType")
        )
    if kind == "sequenceType":
        return bool(a.sequenceType.WhichOneof("Type") == b.sequenceType.WhichOneof("Type"))
    return True  # Int64, Double, String and unset types are equal to their own kind


def is_equivalent(a: Any, b: Any) -> bool:
    """``isEquivalent(FeatureDescription, FeatureDescription)``: same name and same type
    (``shortDescription`` and ``isOptional`` are ignored)."""
    return a.name == b.name and same_feature_type(a.type, b.type)
