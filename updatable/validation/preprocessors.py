"""Spec side, validation layer: the feature-engineering models that rescale or repair values:
``normalizer`` (NO1-NO3), ``scaler`` (SC1-SC4) and ``imputer`` (IM1-IM5).

Source: coremltools ``mlmodel/src/Validation/{Normalizer,Scalar,Imputer}Validator.cpp``, in
their order and with their messages ("imput" and the scaler's "For input type array" under a
scalar input included). Like every feature-engineering validator they first validate the model
description again, which G3 already did; that repeat is not reproduced.
"""

from __future__ import annotations

from collections.abc import Iterator

from updatable import proto
from updatable.validation.issues import MODEL_PARAMS, At, Issue
from updatable.validation.schema import features_problem

_NORMALIZER = proto.Model_pb2.Normalizer
_NUMBERS = ("int64Type", "doubleType", "multiArrayType")


def _one_in_one_out(
    model: proto.Model, at: At, codes: tuple[str, str], allowed: tuple[str, ...]
) -> Iterator[Issue]:
    """At most one input and one output, each of a type in ``allowed``; ``codes`` = the rule
    ids of the input and the output check."""
    for io, code in zip(("input", "output"), codes, strict=True):
        problem = features_problem(getattr(model.description, io), 1, allowed)
        if problem is not None:
            yield at.error(code, f"description.{io}", *problem)
            return


def normalizer_features(model: proto.Model, at: At) -> Iterator[Issue]:
    """NO1 / NO2: one multiArray input, one multiArray output."""
    yield from _one_in_one_out(model, at, ("NO1", "NO2"), ("multiArrayType",))


def normalizer_norm(model: proto.Model, at: At) -> Iterator[Issue]:
    """NO3: the norm is LMax, L1 or L2 (an unknown enum number fails)."""
    norms = (_NORMALIZER.LMax, _NORMALIZER.L1, _NORMALIZER.L2)
    if model.normalizer.normType not in norms:
        message = "NormalizerValidator normLx invalid"
        yield at.error("NO3", "normalizer.normType", message, MODEL_PARAMS)


def scaler_features(model: proto.Model, at: At) -> Iterator[Issue]:
    """SC1 / SC2: one Int64, Double or multiArray input; one output of those types."""
    yield from _one_in_one_out(model, at, ("SC1", "SC2"), _NUMBERS)


def _kinds(model: proto.Model) -> tuple[str, str]:
    description = model.description
    return (
        description.input[0].type.WhichOneof("Type"),
        description.output[0].type.WhichOneof("Type"),
    )


def scaler_types(model: proto.Model, at: At) -> Iterator[Issue]:
    """SC3: an Int64 input gives an Int64 or Double output; any other input, its own type."""
    source, target = _kinds(model)
    if source == "int64Type":
        if target not in ("int64Type", "doubleType"):
            message = "Input type Int64 must output to Int64 or Double."
            yield at.error("SC3", "description.output", message, MODEL_PARAMS)
    elif target != source:
        message = "Type of input feature does not match the output type feature."
        yield at.error("SC3", "description.output", message, MODEL_PARAMS)


def _array_problem(model: proto.Model, what: str) -> str | None:
    """A 1-D multiArray input, and an output of the same length (imputer and scaler)."""
    source = model.description.input[0].type.multiArrayType
    target = model.description.output[0].type.multiArrayType
    if len(source.shape) != 1:
        return f"Only 1 dimensional arrays input features are supported by the {what}."
    if len(target.shape) != 1 or source.shape[0] != target.shape[0]:
        return "Shape of output array does not match shape of input array."
    return None


def scaler_values(model: proto.Model, at: At) -> Iterator[Issue]:
    """SC4: a 1-D array and its output of one length; shift and scale values empty, one value,
    or (for an array) one per element."""
    scaler = model.scaler
    if _kinds(model)[0] == "multiArrayType":
        message = _array_problem(model, "scaler")
        if message is not None:
            yield at.error("SC4", "description", message, MODEL_PARAMS)
            return
        length = model.description.input[0].type.multiArrayType.shape[0]
        for name in ("shift", "scale"):
            if len(getattr(scaler, f"{name}Value")) not in (0, 1, length):
                message = (
                    f"For input type array, specified {name} values must be empty, a scalar, or "
                    "a vector of the matching length."
                )
                yield at.error("SC4", f"scaler.{name}Value", message, MODEL_PARAMS)
                return
        return
    if len(scaler.shiftValue) > 1:
        message = "For a scalar imput type, specified shift value must be empty or a scalar."
        yield at.error("SC4", "scaler.shiftValue", message, MODEL_PARAMS)
    elif len(scaler.scaleValue) > 1:
        message = "For input type array, specified scale values must be empty or a scalar."
        yield at.error("SC4", "scaler.scaleValue", message, MODEL_PARAMS)


def imputer_features(model: proto.Model, at: At) -> Iterator[Issue]:
    """IM1 / IM2: one input and one output, each an Int64, Double, multiArray, String or
    dictionary."""
    allowed = (*_NUMBERS, "stringType", "dictionaryType")
    yield from _one_in_one_out(model, at, ("IM1", "IM2"), allowed)


def imputer_interface(model: proto.Model, at: At) -> Iterator[Issue]:
    """IM3: the output has the input's type; an array is 1-D and keeps its length."""
    source, target = _kinds(model)
    if source != target:
        message = "Type of input feature does not match the output type feature."
        yield at.error("IM3", "description.output", message, MODEL_PARAMS)
        return
    if source == "multiArrayType":
        problem = _array_problem(model, "imputer")
        if problem is not None:
            yield at.error("IM3", "description", problem, MODEL_PARAMS)


# imputed value -> (input types it can fill, the replace value it allows)
_IMPUTED = {
    "imputedDoubleValue": (("doubleType", "multiArrayType"), ("replaceDoubleValue",)),
    "imputedInt64Value": (("int64Type",), ("replaceInt64Value",)),
    "imputedDoubleArray": (("multiArrayType",), ("replaceDoubleValue",)),
    "imputedStringValue": (("stringType",), ("replaceStringValue",)),
    "imputedInt64Array": (("multiArrayType",), ("replaceInt64Value",)),
    "imputedStringDictionary": (("dictionaryType",), ()),
    "imputedInt64Dictionary": (("dictionaryType",), ()),
}


def imputer_values(model: proto.Model, at: At) -> Iterator[Issue]:
    """IM4 / IM5: an imputed value is set (IM5 otherwise) and fits the input's type, and a
    replace value fits the imputed one (IM4); an imputed array has the input's length (IM5).
    A dictionary can only be imputed whole, with no replace value."""
    imputer, feature = model.imputer, model.description.input[0]
    imputed, replace = imputer.WhichOneof("ImputedValue"), imputer.WhichOneof("ReplaceValue")
    if imputed is None:
        yield at.error("IM5", "imputer", "Imputer parameter must be set.", MODEL_PARAMS)
        return
    inputs, replaces = _IMPUTED[imputed]
    if feature.type.WhichOneof("Type") not in inputs:
        message = (
            f'Type of input feature "{feature.name}" is not compatible with given imputed value '
            "type."
        )
        yield at.error("IM4", f"imputer.{imputed}", message, MODEL_PARAMS)
    elif replace is not None and replace not in replaces:
        message = "Type of given replace value not compatible with input feature type."
        yield at.error("IM4", f"imputer.{replace}", message, MODEL_PARAMS)
    elif imputed in ("imputedDoubleArray", "imputedInt64Array"):
        if feature.type.multiArrayType.shape[0] != len(getattr(imputer, imputed).vector):
            message = "Shape of imputed array value does not match shape of input array."
            yield at.error("IM5", f"imputer.{imputed}", message, MODEL_PARAMS)


NORMALIZER = (normalizer_features, normalizer_norm)
# each rule reads what the rules before it checked: the driver stops at the first issue
SCALER = (scaler_features, scaler_types, scaler_values)
IMPUTER = (imputer_features, imputer_interface, imputer_values)
