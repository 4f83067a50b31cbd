"""Feature-engineering rules FV, OH, AE, DV, CM (``encoders``) and NO, SC, IM
(``preprocessors``): each check breaks one field of a model Core ML accepts and expects Core
ML's exact message (the ``*Validator.cpp`` of each model type)."""

from __future__ import annotations

import pytest

from tests.builders import classic
from tests.builders._common import datatypes
from tests.issue_checks import expect_issue as expect
from updatable.validation import core_ml_issue

PARAMS = "INVALID_MODEL_PARAMETERS"
FEATURE_TYPE = "UNSUPPORTED_FEATURE_TYPE_FOR_MODEL_TYPE"
TOO_MANY = "TOO_MANY_FEATURES_FOR_MODEL_TYPE"
M = classic.M


def unsupported(kind: str, name: str, *allowed: str) -> str:
    listed = ", ".join(f"MLFeatureTypeType_{a}" for a in allowed)
    return (
        f'Unsupported type "MLFeatureTypeType_{kind}" for feature "{name}". '
        f"Should be one of: {listed}."
    )


def _retype(spec, io: str, kind: str, index: int = 0):
    feature = getattr(spec.description, io)[index]
    feature.type.Clear()
    getattr(feature.type, kind).SetInParent()
    if kind == "multiArrayType":
        feature.type.multiArrayType.shape.append(3)
        feature.type.multiArrayType.dataType = M.ArrayFeatureType.DOUBLE
    if kind == "dictionaryType":
        feature.type.dictionaryType.int64KeyType.SetInParent()
    if kind == "sequenceType":
        feature.type.sequenceType.int64Type.SetInParent()
        spec.specificationVersion = max(spec.specificationVersion, 3)  # iOS 12
    return spec


def _add_feature(spec, io: str, name: str = "extra"):
    feature = getattr(spec.description, io).add()
    feature.CopyFrom(getattr(spec.description, io)[0])
    feature.name = name
    return spec


def _with(build, edit):
    def make():
        spec = build()
        edit(spec)
        return spec

    return make


def vectorizer():
    return classic.feature_vectorizer([("a", datatypes.Double()), ("b", datatypes.Array(3))])


def one_hot(**kwargs):
    return classic.one_hot_encoder(["x", "y", "z"], **kwargs)


def extractor(output_type="Array"):
    return classic.array_feature_extractor(
        5, [1, 3] if output_type == "Array" else [2], output_type
    )


def dict_vectorizer():
    return classic.dict_vectorizer(["a", "b"])


def mapping(default=None):
    return classic.categorical_mapping({"a": 1, "b": 2}, default)


def _sequence_mapping(input_seq="stringType", output="sequenceType", output_seq="int64Type"):
    def make():
        spec = mapping()
        spec.specificationVersion = 3  # sequences came with iOS 12
        _retype(spec, "input", "sequenceType")
        spec.description.input[0].type.sequenceType.Clear()
        getattr(spec.description.input[0].type.sequenceType, input_seq).SetInParent()
        _retype(spec, "output", output)
        if output == "sequenceType":
            spec.description.output[0].type.sequenceType.Clear()
            getattr(spec.description.output[0].type.sequenceType, output_seq).SetInParent()
        return spec

    return make


ENCODER_CASES = {
    "FV1 string input": (
        _with(vectorizer, lambda s: _retype(s, "input", "stringType", 1)),
        "FV1",
        unsupported(
            "stringType", "b", "int64Type", "doubleType", "multiArrayType", "dictionaryType"
        ),
        FEATURE_TYPE,
    ),
    "FV2 two outputs": (
        _with(vectorizer, lambda s: _add_feature(s, "output")),
        "FV2",
        "Feature descriptions exceeded 1",
        TOO_MANY,
    ),
    "FV2 double output": (
        _with(vectorizer, lambda s: _retype(s, "output", "doubleType")),
        "FV2",
        unsupported("doubleType", "features", "multiArrayType"),
        FEATURE_TYPE,
    ),
    "FV3 zero dimensions": (
        _with(
            vectorizer, lambda s: setattr(s.featureVectorizer.inputList[1], "inputDimensions", 0)
        ),
        "FV3",
        "Dimension size must be greater tha zero.",
        PARAMS,
    ),
    "OH1 two inputs": (
        _with(one_hot, lambda s: _add_feature(s, "input")),
        "OH1",
        "Feature descriptions exceeded 1",
        TOO_MANY,
    ),
    "OH1 double input": (
        _with(one_hot, lambda s: _retype(s, "input", "doubleType")),
        "OH1",
        unsupported("doubleType", "category", "int64Type", "stringType"),
        FEATURE_TYPE,
    ),
    "OH2 sparse needs a dictionary": (
        _with(one_hot, lambda s: setattr(s.oneHotEncoder, "outputSparse", True)),
        "OH2",
        unsupported("multiArrayType", "encoded", "dictionaryType"),
        FEATURE_TYPE,
    ),
    "OH3 no categories": (
        _with(one_hot, lambda s: s.oneHotEncoder.ClearField("stringCategories")),
        "OH3",
        "OneHotEncoder parameter incorrect type",
        PARAMS,
    ),
    "AE1 double input": (
        _with(extractor, lambda s: _retype(s, "input", "doubleType")),
        "AE1",
        unsupported("doubleType", "features", "multiArrayType"),
        FEATURE_TYPE,
    ),
    "AE2 string output": (
        _with(extractor, lambda s: _retype(s, "output", "stringType")),
        "AE2",
        unsupported("stringType", "extracted", "doubleType", "int64Type", "multiArrayType"),
        FEATURE_TYPE,
    ),
    "AE3 double output needs one index": (
        _with(
            lambda: extractor("Double"), lambda s: s.arrayFeatureExtractor.extractIndex.append(4)
        ),
        "AE3",
        "If output type is Double in interface, exactly one extraction index must be specified.",
        PARAMS,
    ),
    "DV1 array input": (
        _with(dict_vectorizer, lambda s: _retype(s, "input", "multiArrayType")),
        "DV1",
        unsupported("multiArrayType", "dict", "dictionaryType"),
        FEATURE_TYPE,
    ),
    "DV2 array output": (
        _with(dict_vectorizer, lambda s: _retype(s, "output", "multiArrayType")),
        "DV2",
        unsupported("multiArrayType", "indexed", "dictionaryType"),
        FEATURE_TYPE,
    ),
    "DV3 no map": (
        _with(dict_vectorizer, lambda s: s.dictVectorizer.ClearField("stringToIndex")),
        "DV3",
        "DictVectorizerValidator parameter not set",
        PARAMS,
    ),
    "CM1 no mapping": (
        _with(mapping, lambda s: s.categoricalMapping.ClearField("stringToInt64Map")),
        "CM1",
        "Mapping not set.",
        PARAMS,
    ),
    "CM1 string default for int64 output": (
        _with(mapping, lambda s: setattr(s.categoricalMapping, "strValue", "?")),
        "CM1",
        "ValueOnUnknown set to string value while mapping produces int64.",
        PARAMS,
    ),
    "CM1 int64 default for string output": (
        _with(lambda: classic.categorical_mapping({1: "a"}), lambda s: _int_default(s)),
        "CM1",
        "ValueOnUnknown set to Int64 value while mapping produces string.",
        PARAMS,
    ),
    "CM2 int64 input for strings": (
        _with(mapping, lambda s: _retype(s, "input", "int64Type")),
        "CM2",
        unsupported("int64Type", "category", "stringType", "sequenceType"),
        FEATURE_TYPE,
    ),
    "CM3 string output for int64s": (
        _with(mapping, lambda s: _retype(s, "output", "stringType")),
        "CM3",
        unsupported("stringType", "mapped", "int64Type", "sequenceType"),
        FEATURE_TYPE,
    ),
    "CM4 sequence of the wrong type in": (
        _sequence_mapping(input_seq="int64Type"),
        "CM4",
        "Input sequence type does not match input type MLFeatureTypeType_stringTypeof "
        "categorical mapping.",
        FEATURE_TYPE,
    ),
    "CM4 sequence in, scalar out": (
        _sequence_mapping(output="int64Type"),
        "CM4",
        "Output of a sequence categorical mapping must be a sequence",
        FEATURE_TYPE,
    ),
    "CM4 sequence of the wrong type out": (
        _sequence_mapping(output_seq="stringType"),
        "CM4",
        "Output sequence type does not match input type MLFeatureTypeType_int64Typeof "
        "categorical mapping.",
        FEATURE_TYPE,
    ),
}


def _int_default(spec):
    spec.categoricalMapping.int64Value = 3
    return spec


def normalizer():
    return classic.normalizer("L1", 3)


def array_scaler():
    return classic.scaler([1.0, 2.0, 3.0], [0.5], 3)


def int_scaler(target=None):
    return classic.scaler(1.0, 2.0, source=datatypes.Int64(), target=target or datatypes.Double())


def array_imputer():
    return classic.imputer(datatypes.Array(3), "imputedDoubleArray", [1.0, 2.0, 3.0])


def _reshape(spec, io, *dims):
    array = getattr(spec.description, io)[0].type.multiArrayType
    del array.shape[:]
    array.shape.extend(dims)
    return spec


def _imputer_of(source, imputed, value, replace=None):
    return lambda: classic.imputer(source, imputed, value, replace)


PREPROCESSOR_CASES = {
    "NO1 two inputs": (
        _with(normalizer, lambda s: _add_feature(s, "input")),
        "NO1",
        "Feature descriptions exceeded 1",
        TOO_MANY,
    ),
    "NO2 double output": (
        _with(normalizer, lambda s: _retype(s, "output", "doubleType")),
        "NO2",
        unsupported("doubleType", "normalized", "multiArrayType"),
        FEATURE_TYPE,
    ),
    "NO3 unknown norm": (
        _with(normalizer, lambda s: setattr(s.normalizer, "normType", 9)),
        "NO3",
        "NormalizerValidator normLx invalid",
        PARAMS,
    ),
    "SC1 string input": (
        _with(array_scaler, lambda s: _retype(s, "input", "stringType")),
        "SC1",
        unsupported("stringType", "features", "int64Type", "doubleType", "multiArrayType"),
        FEATURE_TYPE,
    ),
    "SC2 two outputs": (
        _with(array_scaler, lambda s: _add_feature(s, "output")),
        "SC2",
        "Feature descriptions exceeded 1",
        TOO_MANY,
    ),
    "SC3 int64 to array": (
        lambda: int_scaler(datatypes.Array(1)),
        "SC3",
        "Input type Int64 must output to Int64 or Double.",
        PARAMS,
    ),
    "SC3 array to double": (
        _with(array_scaler, lambda s: _retype(s, "output", "doubleType")),
        "SC3",
        "Type of input feature does not match the output type feature.",
        PARAMS,
    ),
    "SC4 2-D array": (
        _with(array_scaler, lambda s: _reshape(s, "input", 3, 1)),
        "SC4",
        "Only 1 dimensional arrays input features are supported by the scaler.",
        PARAMS,
    ),
    "SC4 output length": (
        _with(array_scaler, lambda s: _reshape(s, "output", 4)),
        "SC4",
        "Shape of output array does not match shape of input array.",
        PARAMS,
    ),
    "SC4 shift length": (
        _with(array_scaler, lambda s: s.scaler.shiftValue.append(4.0)),
        "SC4",
        "For input type array, specified shift values must be empty, a scalar, or a vector of "
        "the matching length.",
        PARAMS,
    ),
    "SC4 scale length": (
        _with(array_scaler, lambda s: s.scaler.scaleValue.append(4.0)),
        "SC4",
        "For input type array, specified scale values must be empty, a scalar, or a vector of "
        "the matching length.",
        PARAMS,
    ),
    "SC4 scalar shift": (
        _with(int_scaler, lambda s: s.scaler.shiftValue.append(4.0)),
        "SC4",
        "For a scalar imput type, specified shift value must be empty or a scalar.",
        PARAMS,
    ),
    "SC4 scalar scale": (
        _with(int_scaler, lambda s: s.scaler.scaleValue.append(4.0)),
        "SC4",
        "For input type array, specified scale values must be empty or a scalar.",
        PARAMS,
    ),
    "IM1 sequence input": (
        _with(array_imputer, lambda s: _retype(s, "input", "sequenceType")),
        "IM1",
        unsupported(
            "sequenceType",
            "raw",
            "int64Type",
            "doubleType",
            "multiArrayType",
            "stringType",
            "dictionaryType",
        ),
        FEATURE_TYPE,
    ),
    "IM3 types differ": (
        _with(array_imputer, lambda s: _retype(s, "output", "doubleType")),
        "IM3",
        "Type of input feature does not match the output type feature.",
        PARAMS,
    ),
    "IM3 2-D array": (
        _with(array_imputer, lambda s: _reshape(s, "input", 3, 1)),
        "IM3",
        "Only 1 dimensional arrays input features are supported by the imputer.",
        PARAMS,
    ),
    "IM4 double value for a string": (
        _imputer_of(datatypes.String(), "imputedDoubleValue", 1.0),
        "IM4",
        'Type of input feature "raw" is not compatible with given imputed value type.',
        PARAMS,
    ),
    "IM4 int64 replace for a double": (
        _imputer_of(datatypes.Double(), "imputedDoubleValue", 1.0, ("replaceInt64Value", 3)),
        "IM4",
        "Type of given replace value not compatible with input feature type.",
        PARAMS,
    ),
    "IM4 a dictionary takes no replace value": (
        _imputer_of(
            datatypes.Dictionary(datatypes.Int64()),
            "imputedInt64Dictionary",
            {1: 2.0},
            ("replaceDoubleValue", 0.0),
        ),
        "IM4",
        "Type of given replace value not compatible with input feature type.",
        PARAMS,
    ),
    "IM5 not set": (
        _with(array_imputer, lambda s: s.imputer.ClearField("imputedDoubleArray")),
        "IM5",
        "Imputer parameter must be set.",
        PARAMS,
    ),
    "IM5 array length": (
        _imputer_of(datatypes.Array(3), "imputedInt64Array", [1, 2]),
        "IM5",
        "Shape of imputed array value does not match shape of input array.",
        PARAMS,
    ),
}


CASES = {**ENCODER_CASES, **PREPROCESSOR_CASES}


@pytest.mark.parametrize(("build", "code", "message", "result"), CASES.values(), ids=CASES)
def test_feature_engineering_rules(build, code, message, result):
    expect(build(), code, message, result)


@pytest.mark.parametrize(
    ("source", "imputed", "value", "replace"),
    [
        (datatypes.Double(), "imputedDoubleValue", 0.5, ("replaceDoubleValue", -1.0)),
        (datatypes.Array(3), "imputedDoubleValue", 0.5, None),
        (datatypes.Int64(), "imputedInt64Value", 4, ("replaceInt64Value", -1)),
        (datatypes.String(), "imputedStringValue", "?", ("replaceStringValue", "")),
        (datatypes.Array(2), "imputedInt64Array", [1, 2], ("replaceInt64Value", 0)),
        (datatypes.Dictionary(datatypes.String()), "imputedStringDictionary", {"a": 1.0}, None),
    ],
)
def test_imputers_of_every_value_type_are_valid(source, imputed, value, replace):
    assert core_ml_issue(classic.imputer(source, imputed, value, replace)) is None


def test_identity_models_are_always_valid():
    spec = classic.transform("identity", [("a", datatypes.Double())], [("b", datatypes.String())])
    assert core_ml_issue(spec) is None


def test_sequence_mappings_are_valid():
    assert core_ml_issue(_sequence_mapping()()) is None
