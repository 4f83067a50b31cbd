"""Generic checks G1-G6 (docs/mlmodel-format.md §2.1) and the model description checks of G3."""

from __future__ import annotations

import pytest

from tests import builders
from tests.issue_checks import expect_issue as expect
from updatable import proto
from updatable.validation import core_ml_issue

A = proto.ArrayFeatureType
IMAGE = proto.ImageFeatureType


def test_g1_version_missing():
    spec = builders.base_nn()
    spec.specificationVersion = 0
    expect(
        spec,
        "G1",
        "Model specification version field missing or corrupt.",
        "INVALID_COMPATIBILITY_VERSION",
        "specificationVersion",
    )


def test_g2_version_too_new():
    spec = builders.base_nn()
    spec.specificationVersion = 11
    expect(
        spec,
        "G2",
        "The .mlmodel supplied is of version 11, intended for a newer version of Xcode. This "
        "version of Xcode supports model version 10 or earlier.",
        "UNSUPPORTED_COMPATIBILITY_VERSION",
    )
    spec.specificationVersion = 10
    assert core_ml_issue(spec) is None


def test_g4_updatable_needs_version_4():
    """Port of testUpdatableModelSpecVersion: v3 bad, v4 good."""
    spec = builders.updatable_nn()
    spec.specificationVersion = 3
    expect(
        spec,
        "G4",
        "Model specification version for an updatable model must be '4' or above.",
        "INVALID_COMPATIBILITY_VERSION",
    )
    spec.specificationVersion = 4
    assert core_ml_issue(spec) is None


def test_g5_model_type_not_updatable():
    """Port of testInvalidUpdatableModelWrongType: an updatable identity model."""
    spec = proto.Model(specificationVersion=4, isUpdatable=True)
    spec.identity.SetInParent()
    for io in (spec.description.input.add(), spec.description.output.add()):
        io.name = "x"
        io.type.multiArrayType.dataType = A.INT32
        io.type.multiArrayType.shape.append(1)
    expect(
        spec,
        "G5",
        "This model type is not supported for on-device update.",
        "INVALID_UPDATABLE_MODEL_PARAMETERS",
        "isUpdatable",
    )
    spec.isUpdatable = False
    assert core_ml_issue(spec) is None  # other types get the generic checks only


def test_g5_linked_model_and_ml_program_never_reach_their_own_rule():
    spec = builders.tiny_drawing_pipeline(linked=True).pipelineClassifier.pipeline.models[0]
    spec.isUpdatable = True
    assert core_ml_issue(spec).code == "G5"


def _first_input(spec):
    return spec.description.input[0]


def _with(mutate, spec=None):
    spec = spec or builders.base_nn()
    mutate(spec)
    return spec


def _input_type(spec):
    return spec.description.input[0].type


INTERFACE = "INVALID_MODEL_INTERFACE"


@pytest.mark.parametrize(
    ("mutate", "message", "result_type"),
    [
        (
            lambda s: s.description.ClearField("input"),
            "Models must have one or more inputs.",
            "MODEL_TYPE_DOES_NOT_SUPPORT_EMPTY_INPUT",
        ),
        (
            lambda s: s.description.ClearField("output"),
            "Models must have one or more outputs.",
            INTERFACE,
        ),
        (
            lambda s: setattr(_first_input(s), "name", ""),
            "Feature description must have a non-empty name.",
            INTERFACE,
        ),
        (
            lambda s: _first_input(s).ClearField("type"),
            "Feature description input must specify a valid feature type.",
            INTERFACE,
        ),
        (
            lambda s: (_first_input(s).ClearField("type"), _input_type(s).SetInParent()),
            "Feature description has an unspecified or invalid type for feature 'input'.",
            INTERFACE,
        ),
        (
            lambda s: _input_type(s).multiArrayType.ClearField("shape"),
            "Description of multiarray feature 'input' has missing shape constraints.",
            INTERFACE,
        ),
        (
            lambda s: _input_type(s).multiArrayType.shape.append(-2),
            "Description of multiarray feature 'input' has an invalid shape. Element 1 has "
            "non-positive value -2.",
            INTERFACE,
        ),
        (
            lambda s: setattr(_input_type(s).multiArrayType, "dataType", A.INT8),
            "Description of multiarray feature 'input' has an invalid or unspecified dataType. "
            "It must be specified as DOUBLE, FLOAT32, FLOAT16 or INT32",
            INTERFACE,
        ),
        (
            lambda s: setattr(_input_type(s).multiArrayType, "dataType", A.FLOAT16),
            "Description of multiarray feature 'input' has FLOAT16 dataType, which is only valid "
            "in specification version >= 7. This model has version 4",
            INTERFACE,
        ),
        (
            lambda s: setattr(_input_type(s).multiArrayType, "floatDefaultValue", 1.0),
            "Description of multiarray feature 'input' has mistmatch between dataType and the "
            "type of default optional value.",
            INTERFACE,
        ),
        (
            lambda s: _input_type(s).multiArrayType.enumeratedShapes.SetInParent(),
            "Description of multiarray feature 'input' has enumerated zero permitted sizes.",
            INTERFACE,
        ),
        (
            lambda s: _input_type(s).multiArrayType.enumeratedShapes.shapes.add().shape.append(4),
            "Description of multiarray feature 'input' has a default shape specified  which is "
            "not within the allowed enumerated shapes specified.",
            INTERFACE,
        ),
        (
            lambda s: _input_type(s).multiArrayType.shapeRange.sizeRanges.add(
                lowerBound=5, upperBound=2
            ),
            "Description of multiarray feature 'input' has an invalid range for dimension 0. "
            "Size range is invalid (5, 2 ).",
            INTERFACE,
        ),
        (
            lambda s: _input_type(s).multiArrayType.shapeRange.sizeRanges.add(
                lowerBound=4, upperBound=-1
            ),
            "Description of multiarray feature 'input' has a default shape that is out of the "
            "specified shape range",
            INTERFACE,
        ),
        (
            lambda s: s.description.output[0].type.dictionaryType.SetInParent(),
            "Description of dictionary feature 'output' must contain a key type of either Int64 "
            "or String.",
            INTERFACE,
        ),
        (
            lambda s: s.description.output[0].type.stateType.SetInParent(),
            "State feature 'output' should only be declared in the state feature description.",
            INTERFACE,
        ),
        (
            lambda s: s.description.state.add().CopyFrom(s.description.input[0]),
            "State feature description can declare only state features, but 'input' is not.",
            INTERFACE,
        ),
        (
            lambda s: _input_type(s).stateType.arrayType.shape.append(3),
            "State types are only valid in specification verison >= 9. This model has version 4",
            INTERFACE,
        ),
        (
            lambda s: (
                s.description.output[0].type.sequenceType.int64Type.SetInParent(),
                setattr(s, "specificationVersion", 2),
            ),
            "Sequence types are only valid in specification verison >= 3. This model has version 2",
            INTERFACE,
        ),
        (
            lambda s: s.description.output[0].type.sequenceType.sizeRange.SetInParent(),
            "Description of sequence feature 'output' has invalid or missing type. Only Int64 "
            "and String sequences are currently supported",
            INTERFACE,
        ),
        (
            lambda s: s.description.functions.add(name="main"),
            "Multi-function model must not use top level input feature description.",
            INTERFACE,
        ),
        (
            lambda s: (
                s.description.ClearField("input"),
                s.description.ClearField("output"),
                s.description.ClearField("trainingInput"),
                setattr(s.description, "defaultFunctionName", "main"),
            ),
            "This model type doesn't support multi-function syntax.",
            "MODEL_TYPE_DOES_NOT_SUPPORT_MULTI_FUNCTION",
        ),
    ],
)
def test_g3_description(mutate, message, result_type):
    spec = builders.updatable_nn()
    mutate(spec)
    expect(spec, "G3", message, result_type, "description")


def _image_spec(width=28, height=28, color=IMAGE.GRAYSCALE):
    spec = builders.mnist_convnet(image_input=True)
    spec.specificationVersion = 4  # flexible sizes are read from version 3 on
    image = spec.description.input[0].type.imageType
    image.width, image.height, image.colorSpace = width, height, color
    return spec


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            _image_spec(width=0),
            "Description of image feature 'image' has missing or non-positive width 0.",
        ),
        (
            _image_spec(height=-3),
            "Description of image feature 'image' has missing or non-positive height -3.",
        ),
        (
            _image_spec(color=IMAGE.INVALID_COLOR_SPACE),
            "Description of image feature 'image' has missing or invalid colorspace. It must be "
            "RGB, BGR or GRAYSCALE.",
        ),
        (
            _image_spec(color=IMAGE.GRAYSCALE_FLOAT16),
            "Description of image feature 'image' has GRAYSCALE_FLOAT16 colorspace, which is "
            "only valid in specification version >= 7. This model has version 4",
        ),
    ],
)
def test_g3_image_features(spec, message):
    expect(spec, "G3", message, INTERFACE)


def test_g3_image_sizes():
    spec = _image_spec()
    sizes = spec.description.input[0].type.imageType.enumeratedSizes.sizes
    sizes.add(width=32, height=32)
    expect(
        spec,
        "G3",
        "Description of image feature 'image' has a default size of 28 × 28 which is not within "
        "the allowed enumerated sizes specified.",
        INTERFACE,
    )
    sizes.add(width=28, height=28)
    assert core_ml_issue(spec) is None
    spec = _image_spec(width=0, height=0)
    ranges = spec.description.input[0].type.imageType.imageSizeRange
    ranges.widthRange.lowerBound, ranges.widthRange.upperBound = 28, -1
    ranges.heightRange.lowerBound, ranges.heightRange.upperBound = 28, 64
    # no default: the lower bounds stand in for it, but the message prints the stored 0
    assert core_ml_issue(spec) is None
    spec = _image_spec(width=100)
    ranges = spec.description.input[0].type.imageType.imageSizeRange
    ranges.widthRange.lowerBound, ranges.widthRange.upperBound = 10, 64
    ranges.heightRange.lowerBound, ranges.heightRange.upperBound = 10, 64
    expect(
        spec,
        "G3",
        "Description of image feature 'image' default width 100 is not within specified flexible "
        "width range",
        INTERFACE,
    )


def test_g3_flexible_sizes_ignored_before_version_3():
    spec = _image_spec()
    # 28 x 28: a size the network's layers accept (another one fails the shape pass, Y8)
    spec.description.input[0].type.imageType.enumeratedSizes.sizes.add(width=28, height=28)
    spec.specificationVersion = 2
    assert core_ml_issue(spec) is None


def test_training_inputs_are_not_validated_by_g3():
    spec = builders.updatable_nn()
    spec.description.trainingInput.add().name = "extra"  # no type at all
    assert core_ml_issue(spec) is None


def test_g6_optional_features():
    spec = builders.updatable_nn()
    spec.description.input[0].type.isOptional = True
    expect(
        spec,
        "G6",
        "At least one feature for a neural network must NOT be optional.",
        "INVALID_MODEL_PARAMETERS",
        "description.input",
    )
    spec = builders.updatable_nn()
    spec.description.output[0].type.isOptional = True
    expect(spec, "G6", "Outputs cannot be optional.", INTERFACE, "description.output[0]")
    knn = builders.empty_knn()
    knn.description.input[0].type.isOptional = True
    expect(
        knn,
        "G6",
        "Features cannot be optional to this type of model.",
        "INVALID_MODEL_PARAMETERS",
        "description.input[0]",
    )


def test_g6_default_optional_values():
    knn = builders.empty_knn()
    knn.description.input[0].type.isOptional = True
    knn.description.input[0].type.multiArrayType.floatDefaultValue = 0.0
    expect(
        knn,
        "G6",
        "Default optional values are only allowed for neural networks.",
        "INVALID_MODEL_PARAMETERS",
    )
    spec = builders.updatable_nn()
    extra = spec.description.input.add()
    extra.CopyFrom(spec.description.input[0])
    extra.name = "extra"
    extra.type.isOptional = True
    extra.type.multiArrayType.doubleDefaultValue = 1.0
    expect(
        spec,
        "G6",
        "Default value for optional inputs is supported from specification 5 (iOS 14) onwards!",
        INTERFACE,
    )
    spec.specificationVersion = 5
    assert core_ml_issue(spec) is None
