"""Spec side, validation layer: the feature-type checks shared by the classic (non-network)
model types: how many inputs or outputs a model type takes, and of which types.

Source: coremltools ``mlmodel/src/Validation/ValidatorUtils-inl.hpp`` (``validateSchemaTypes``,
``validateDescriptionsContainFeatureWithTypes``, ``validateDescriptionsAreAllVectorizableTypes``).
Each function returns ``(message, result_type)`` or ``None``, like the helpers of ``generic``,
so that every model type files the same Core ML check under its own rule id.

A type is written as its ``FeatureType`` oneof name (``"int64Type"``); Core ML prints it as
``MLFeatureTypeType_int64Type`` (``INVALID`` when no type is set), in the order the model
type's validator lists the allowed ones.
"""

from __future__ import annotations

from collections.abc import Sequence

from updatable import proto
from updatable.validation.features import Problem
from updatable.validation.issues import FEATURE_TYPE

# Core ML's result type for a model given more features than its type takes (ResultType.hpp).
TOO_MANY_FEATURES = "TOO_MANY_FEATURES_FOR_MODEL_TYPE"

# validateDescriptionsAreAllVectorizableTypes: the types a model can read as numbers
VECTORIZABLE = ("doubleType", "int64Type", "multiArrayType")


def type_name(kind: str | None) -> str:
    """``MLFeatureTypeType_Name``: ``"MLFeatureTypeType_int64Type"``, or ``"INVALID"``."""
    return f"MLFeatureTypeType_{kind}" if kind else "INVALID"


def type_problem(feature: proto.FeatureDescription, allowed: Sequence[str]) -> Problem:
    """``validateSchemaTypes``: ``feature``'s type is one of ``allowed``."""
    kind = feature.type.WhichOneof("Type")
    if kind in allowed:
        return None
    # Core ML ends this message with std::endl, which every issue drops
    message = (
        f'Unsupported type "{type_name(kind)}" for feature "{feature.name}". '
        f"Should be one of: {', '.join(type_name(a) for a in allowed)}."
    )
    return message, FEATURE_TYPE


def features_problem(
    features: Sequence[proto.FeatureDescription], max_count: int, allowed: Sequence[str]
) -> Problem:
    """``validateDescriptionsContainFeatureWithTypes``: at most ``max_count`` features (0: any
    number), each of a type in ``allowed``."""
    if max_count and len(features) > max_count:
        return f"Feature descriptions exceeded {max_count}", TOO_MANY_FEATURES
    for feature in features:
        problem = type_problem(feature, allowed)
        if problem is not None:
            return problem
    return None


def vectorizable_problem(features: Sequence[proto.FeatureDescription]) -> Problem:
    """``validateDescriptionsAreAllVectorizableTypes``: every feature a Double, Int64 or
    multiArray."""
    return features_problem(features, 0, VECTORIZABLE)
