"""Spec side, validation layer: model descriptions (rule G3): inputs, outputs and states, one
feature at a time.

Source: coremltools ``mlmodel/src/Validation/InterfaceValidators.cpp``
(``validateModelDescription``, ``validateFeatureDescription``, ``validateSizeRange``) and
``Validators.hpp`` (``validateFeatureDescriptions``). ``trainingInput`` is not validated here:
Core ML never validates it. Each function returns ``(message, result_type)`` or ``None``.
"""

from __future__ import annotations

from typing import Any

from updatable import proto
from updatable.validation.issues import COMPAT, EMPTY_INPUT, INTERFACE, MULTI_FUNCTION

Problem = tuple[str, str] | None  # (Core ML message, result type), or no problem

IOS12, IOS16, IOS18 = 3, 7, 9  # MLMODEL_SPECIFICATION_VERSION_IOS12 / _IOS16 / _IOS18


def description_problem(description: proto.ModelDescription, version: int, kind: str) -> Problem:
    """``validateModelDescription`` with the validation policy of model type ``kind``.

    Only ML Programs may have empty inputs or several functions (an assumption: the policy
    table ``Model::modelTypeAllowsEmptyInput`` is not in the sources we read).
    """
    if len(description.functions) or description.defaultFunctionName:
        return _functions_problem(description, version, kind == "mlProgram")
    return _features_problem(description, version, allows_empty_input=kind == "mlProgram")


def _functions_problem(description: proto.ModelDescription, version: int, allowed: bool) -> Problem:
    top_level = (
        ("input", "input feature description"),
        ("output", "output feature description"),
        ("state", "state feature description"),
        ("predictedFeatureName", "predictedFeatureName field"),
        ("predictedProbabilitiesName", "predictedProbabilitiesName field"),
        ("trainingInput", "training input feature description"),
    )
    for field, what in top_level:
        if len(getattr(description, field)):
            return f"Multi-function model must not use top level {what}.", INTERFACE
    if not allowed:
        return "This model type doesn't support multi-function syntax.", MULTI_FUNCTION
    if version < IOS18:
        return _too_old("Multi-function syntax is", IOS18, version), COMPAT
    names = []
    for function in description.functions:
        problem = _features_problem(function, version, allows_empty_input=True)
        if problem is not None:
            return problem
        names.append(function.name)
    if description.defaultFunctionName not in names:
        message = (
            f"The default function name '{description.defaultFunctionName}' is not found in the "
            f"function name list: {','.join(names)}"
        )
        return message, "INVALID_DEFAULT_FUNCTION_NAME"
    return None


def _too_old(what: str, needed: int, version: int) -> str:
    # "verison" is Core ML's spelling.
    return (
        f"{what} only valid in specification verison >= {needed}. This model has version {version}"
    )


def _features_problem(
    description: proto.ModelDescription, version: int, allows_empty_input: bool
) -> Problem:
    if not len(description.input):
        if not allows_empty_input:
            return "Models must have one or more inputs.", EMPTY_INPUT
        if version < IOS18:
            return _too_old("Empty input is", IOS18, version), COMPAT
    if not len(description.output):
        return "Models must have one or more outputs.", INTERFACE
    for io, features in (("input", description.input), ("output", description.output)):
        for feature in features:
            problem = feature_problem(feature, version, io)
            if problem is not None:
                return problem
    for feature in getattr(description, "state", ()):
        problem = feature_problem(feature, version, "state")
        if problem is not None:
            return problem
    return None


def feature_problem(feature: proto.FeatureDescription, version: int, io: str) -> Problem:
    """``validateFeatureDescription`` for one input, output or state (``io``)."""
    name = feature.name
    if name == "":
        return "Feature description must have a non-empty name.", INTERFACE
    if not feature.HasField("type"):
        return f"Feature description {name} must specify a valid feature type.", INTERFACE
    kind = feature.type.WhichOneof("Type")
    if kind == "stateType" and io == "output":
        message = (
            f"State feature '{name}' should only be declared in the state feature description."
        )
        return message, INTERFACE
    if kind != "stateType" and io == "state":
        message = f"State feature description can declare only state features, but '{name}' is not."
        return message, INTERFACE
    if kind is None:
        message = f"Feature description has an unspecified or invalid type for feature '{name}'."
        return message, INTERFACE
    check = {
        "multiArrayType": _array_problem,
        "imageType": _image_problem,
        "dictionaryType": _dictionary_problem,
        "sequenceType": _sequence_problem,
        "stateType": _state_problem,
    }.get(kind)
    return None if check is None else check(feature, version, io)


def _array_problem(feature: proto.FeatureDescription, version: int, io: str) -> Problem:
    name, array = feature.name, feature.type.multiArrayType
    what = f"Description of multiarray feature '{name}'"
    shape = list(array.shape)
    implicit_default = False
    if version >= IOS12:
        flexibility = array.WhichOneof("ShapeFlexibility")
        implicit_default = flexibility in ("enumeratedShapes", "shapeRange")
        if flexibility == "enumeratedShapes":
            problem = _enumerated_problem(what, shape, array.enumeratedShapes)
        elif flexibility == "shapeRange":
            problem = _shape_range_problem(what, shape, array.shapeRange)
        else:
            problem = None
        if problem is not None:
            return problem, INTERFACE
    if io == "input" and not shape and not implicit_default:
        return f"{what} has missing shape constraints.", INTERFACE
    for i, dim in enumerate(shape):
        if dim < 0:
            return (
                f"{what} has an invalid shape. Element {i} has non-positive value {dim}.",
                INTERFACE,
            )
    return _array_type_problem(what, array, version)


def _enumerated_problem(what: str, shape: list[Any], enumerated: Any) -> str | None:
    shapes = [list(s.shape) for s in enumerated.shapes]
    if not shapes:
        return f"{what} has enumerated zero permitted sizes."
    if any(not s for s in shapes):
        return f"{what} has enumerated shapes with zero dimensions."
    if shape and shape not in shapes:
        return (
            f"{what} has a default shape specified  which is not within the allowed "
            "enumerated shapes specified."
        )
    return None


def _shape_range_problem(what: str, shape: list[Any], shape_range: Any) -> str | None:
    ranges = list(shape_range.sizeRanges)
    for i, size_range in enumerate(ranges):
        problem = _size_range_problem(size_range)
        if problem is not None:
            return f"{what} has an invalid range for dimension {i}. {problem}"
    if shape and len(shape) != len(ranges):
        return f"{what} has a default {len(shape)}-d shape but a {len(ranges)}-d shape range"
    for dim, size_range in zip(shape, ranges, strict=False):
        upper = size_range.upperBound
        if dim < size_range.lowerBound or (upper >= 0 and dim > upper):
            return f"{what} has a default shape that is out of the specified shape range"
    return None


def _array_type_problem(what: str, array: Any, version: int) -> Problem:
    dtypes = proto.ArrayFeatureType.ArrayDataType
    if array.dataType == dtypes.Value("FLOAT16"):
        if version < IOS16:
            message = (
                f"{what} has FLOAT16 dataType, which is only valid in specification version >= "
                f"{IOS16}. This model has version {version}"
            )
            return message, INTERFACE
    elif array.dataType not in {dtypes.Value(t) for t in ("DOUBLE", "FLOAT32", "INT32")}:
        message = (
            f"{what} has an invalid or unspecified dataType. "
            "It must be specified as DOUBLE, FLOAT32, FLOAT16 or INT32"
        )
        return message, INTERFACE
    allowed_for_default = {
        "doubleDefaultValue": {"DOUBLE"},
        "floatDefaultValue": {"FLOAT32", "FLOAT16"},
        "intDefaultValue": {"INT32"},
    }.get(array.WhichOneof("defaultOptionalValue") or "")
    if allowed_for_default and dtypes.Name(array.dataType) not in allowed_for_default:
        # "mistmatch" is Core ML's spelling.
        message = f"{what} has mistmatch between dataType and the type of default optional value."
        return message, INTERFACE
    return None


def _size_range_problem(size_range: Any) -> str | None:
    lower, upper = size_range.lowerBound, size_range.upperBound
    if upper > 0 and lower > upper:
        return f"Size range is invalid ({lower}, {upper} )."
    return None


def _image_problem(feature: proto.FeatureDescription, version: int, io: str) -> Problem:
    del io
    name, image = feature.name, feature.type.imageType
    what = f"Description of image feature '{name}'"
    width, height = image.width, image.height
    has_default = width > 0 and height > 0
    flexibility = image.WhichOneof("SizeFlexibility") if version >= IOS12 else None
    if flexibility == "enumeratedSizes":
        sizes = [(s.width, s.height) for s in image.enumeratedSizes.sizes]
        if not sizes:
            return f"{what} has enumerated zero permitted sizes.", INTERFACE
        if not has_default:
            width, height = sizes[0]
        elif (width, height) not in sizes:
            message = (
                f"{what} has a default size of {width} × {height} which is not within the "
                "allowed enumerated sizes specified."
            )
            return message, INTERFACE
    elif flexibility == "imageSizeRange":
        ranges = image.imageSizeRange
        for axis, size_range in (("width", ranges.widthRange), ("height", ranges.heightRange)):
            problem = _size_range_problem(size_range)
            if problem is not None:
                return f"{what} has an invalid flexible {axis} range. {problem}", INTERFACE
        if not has_default:
            width, height = ranges.widthRange.lowerBound, ranges.heightRange.lowerBound
        else:
            for axis, value, size_range in (
                ("width", width, ranges.widthRange),
                ("height", height, ranges.heightRange),
            ):
                upper = size_range.upperBound
                if value < size_range.lowerBound or (upper >= 0 and value > upper):
                    message = (
                        f"{what} default {axis} {value} is not within specified flexible "
                        f"{axis} range"
                    )
                    return message, INTERFACE
    # Core ML prints the stored width / height here, not the default it derived.
    if width <= 0:
        return f"{what} has missing or non-positive width {image.width}.", INTERFACE
    if height <= 0:
        return f"{what} has missing or non-positive height {image.height}.", INTERFACE
    spaces = proto.ImageFeatureType.ColorSpace
    if image.colorSpace == spaces.Value("GRAYSCALE_FLOAT16"):
        if version < IOS16:
            message = (
                f"{what} has GRAYSCALE_FLOAT16 colorspace, which is only valid in specification "
                f"version >= {IOS16}. This model has version {version}"
            )
            return message, INTERFACE
    elif image.colorSpace not in {spaces.Value(s) for s in ("GRAYSCALE", "RGB", "BGR")}:
        message = f"{what} has missing or invalid colorspace. It must be RGB, BGR or GRAYSCALE."
        return message, INTERFACE
    return None


def _dictionary_problem(feature: proto.FeatureDescription, version: int, io: str) -> Problem:
    del version, io
    if feature.type.dictionaryType.WhichOneof("KeyType") is None:
        message = (
            f"Description of dictionary feature '{feature.name}' must contain a key type of "
            "either Int64 or String."
        )
        return message, INTERFACE
    return None


def _sequence_problem(feature: proto.FeatureDescription, version: int, io: str) -> Problem:
    del io
    what = f"Description of sequence feature '{feature.name}'"
    if version < IOS12:
        return _too_old("Sequence types are", IOS12, version), INTERFACE
    problem = _size_range_problem(feature.type.sequenceType.sizeRange)
    if problem is not None:
        return f"{what} has invalid allowed sizes. {problem}", INTERFACE
    if feature.type.sequenceType.WhichOneof("Type") is None:
        message = (
            f"{what} has invalid or missing type. "
            "Only Int64 and String sequences are currently supported"
        )
        return message, INTERFACE
    return None


def _state_problem(feature: proto.FeatureDescription, version: int, io: str) -> Problem:
    del io
    name, array = feature.name, feature.type.stateType.arrayType
    what = f"Description of State feature '{name}'"
    if version < IOS18:
        return _too_old("State types are", IOS18, version), INTERFACE
    if feature.type.isOptional:
        return f"State feature '{name}' cannot be optional.", INTERFACE
    if not len(array.shape):
        return f"{what} has missing shape constraints.", INTERFACE
    for i, dim in enumerate(array.shape):
        if dim < 0:
            return (
                f"{what} has an invalid shape. Element {i} has non-positive value {dim}.",
                INTERFACE,
            )
    if array.dataType != proto.ArrayFeatureType.ArrayDataType.Value("FLOAT16"):
        message = f"{what} has an invalid or unspecified dataType. It must be specified as FLOAT16"
        return message, INTERFACE
    if array.WhichOneof("ShapeFlexibility") is not None:
        return f"State feature '{name}' cannot have flexible shape.", INTERFACE
    if array.WhichOneof("defaultOptionalValue") is not None:
        return f"State feature '{name}' cannot have default optional value.", INTERFACE
    return None
