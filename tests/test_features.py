"""Feature values at the API boundary: conversions, errors, images and their resize modes."""

from __future__ import annotations

import numpy as np
import pytest
from coremltools.models import datatypes
from coremltools.models.neural_network import NeuralNetworkBuilder
from PIL import Image

import runtime
from runtime.model import features, images
from tests import builders
from tests.optional import needs, optional_import
from updatable import proto
from updatable.errors import FeatureError

torch = optional_import("torch")
F = optional_import("torch.nn.functional")


def described(name: str, **type_fields) -> proto.FeatureDescription:
    """A FeatureDescription of one type, e.g. ``described("x", int64Type={})``."""
    feature = proto.FeatureDescription(name=name)
    for field, value in type_fields.items():
        getattr(feature.type, field).MergeFrom(value) if not isinstance(value, dict) else getattr(
            feature.type, field
        ).SetInParent()
    return feature


def image_type(width, height, space) -> proto.ImageFeatureType:
    return proto.ImageFeatureType(
        width=width, height=height, colorSpace=proto.ImageFeatureType.ColorSpace.Value(space)
    )


def array_type(*shape, dtype="DOUBLE") -> proto.ArrayFeatureType:
    return proto.ArrayFeatureType(
        shape=shape, dataType=proto.ArrayFeatureType.ArrayDataType.Value(dtype)
    )


# ---- multiArray, scalars, dictionaries ----------------------------------------------------


def test_multi_arrays_are_batched_as_float32_in_the_declared_shape():
    feature = described("x", multiArrayType=array_type(2, 3))
    batch = features.to_batch(
        [feature], [{"x": [[1, 2, 3], [4, 5, 6]]}, {"x": np.ones((2, 3), dtype=np.int64)}]
    )
    assert batch["x"].dtype == np.float32 and batch["x"].shape == (2, 2, 3)
    np.testing.assert_array_equal(batch["x"][0], [[1, 2, 3], [4, 5, 6]])


@pytest.mark.parametrize(
    "value, received",
    [
        (np.zeros(4), "an array of shape (4,) (float64)"),
        (np.zeros((1, 3)), "an array of shape (1, 3) (float64)"),
        ("abc", "str 'abc'"),
        (["a", "b", "c"], "list ['a', 'b', 'c']"),
    ],
)
def test_multi_array_errors_name_the_feature_the_expectation_and_the_value(value, received):
    feature = described("x", multiArrayType=array_type(3))
    with pytest.raises(FeatureError) as info:
        features.to_batch([feature], [{"x": value}])
    assert str(info.value) == (
        f"input 'x': expected a multiArray of shape [3] (DOUBLE); got {received}"
    )


def test_flexible_shapes_say_that_the_default_shape_runs():
    array = array_type(3)
    array.shapeRange.sizeRanges.add(lowerBound=1, upperBound=10)
    with pytest.raises(
        FeatureError,
        match=r"allows flexible shapes; the runtime runs its "
        r"default shape \[3\]",
    ):
        features.to_batch([described("x", multiArrayType=array)], [{"x": np.zeros(5)}])


def test_missing_inputs_list_the_model_inputs_and_what_arrived():
    inputs = [described("a", multiArrayType=array_type(1)), described("b", int64Type={})]
    with pytest.raises(FeatureError) as info:
        features.to_batch(inputs, [{"a": [1.0], "c": 2}])
    assert str(info.value) == (
        "input 'b' (an Int64) is missing; the model's inputs are ['a', 'b']; got ['a', 'c']"
    )
    with pytest.raises(FeatureError, match="is missing in example 1"):
        features.to_batch(inputs, [{"a": [1.0], "b": 1}, {"a": [1.0]}])


def test_scalars_and_dictionaries_convert_and_refuse_wrong_types():
    inputs = [
        described("n", int64Type={}),
        described("s", stringType={}),
        described("d", doubleType={}),
        described("m", dictionaryType={}),
    ]
    inputs[3].type.dictionaryType.stringKeyType.SetInParent()
    batch = features.to_batch(
        inputs,
        [
            {"n": np.int32(3), "s": "cat", "d": 2, "m": {"a": 1.0}},
            {"n": 4, "s": np.str_("dog"), "d": 0.5, "m": {}},
        ],
    )
    assert batch["n"].dtype == np.int64 and batch["n"].tolist() == [3, 4]
    assert batch["s"].dtype == object and batch["s"].tolist() == ["cat", "dog"]
    assert batch["d"].dtype == np.float64 and batch["d"].tolist() == [2.0, 0.5]
    assert batch["m"] == [{"a": 1.0}, {}]
    for name, value, expected in [
        ("n", True, "an Int64; got bool True"),
        ("n", 2.0, "an Int64; got float 2.0"),
        ("s", 5, "a String; got int 5"),
        ("d", "1", "a Double; got str '1'"),
        ("m", {1: 2.0}, "a dictionary; got dict {1: 2.0}"),
    ]:
        example = {"n": 1, "s": "x", "d": 1.0, "m": {}} | {name: value}
        with pytest.raises(FeatureError) as info:
            features.to_batch(inputs, [example])
        assert str(info.value) == f"input '{name}': expected {expected}"


def test_outputs_come_back_in_their_declared_types():
    outputs = [
        described("a", multiArrayType=array_type(2, dtype="DOUBLE")),
        described("b", multiArrayType=array_type(2, dtype="FLOAT32")),
        described("c", multiArrayType=array_type(2, dtype="INT32")),
        described("label", int64Type={}),
        described("name", stringType={}),
    ]
    batch = {
        "a": np.ones((2, 2), np.float32),
        "b": np.ones((2, 2), np.float32),
        "c": np.float32([[1, 2], [3, 4]]),
        "label": np.int64([7, 8]),
        "name": np.array(["x", "y"], dtype=object),
    }
    rows = features.from_batch(outputs, batch)
    assert [r["a"].dtype for r in rows] == [np.float64] * 2
    assert rows[0]["b"].dtype == np.float32 and rows[1]["c"].tolist() == [3, 4]
    assert rows[1]["label"] == 8 and type(rows[1]["label"]) is int and rows[0]["name"] == "x"


def test_columns_must_have_equal_lengths():
    assert features.columns_to_examples({"a": [1, 2], "b": "xy"}) == [
        {"a": 1, "b": "x"},
        {"a": 2, "b": "y"},
    ]
    with pytest.raises(FeatureError, match=r"same number of values; got \{'a': 2, 'b': 3\}"):
        features.columns_to_examples({"a": [1, 2], "b": [1, 2, 3]})


# ---- images -------------------------------------------------------------------------------


def gradient_image(width, height) -> np.ndarray:
    """A smooth RGB test image (uint8), different in every channel."""
    y, x = np.mgrid[0:height, 0:width]
    red = x * 255 / max(width - 1, 1)
    green = y * 255 / max(height - 1, 1)
    blue = (x + 2 * y) * 255 / (width + 2 * height)
    return np.stack([red, green, blue], axis=-1).round().astype(np.uint8)


def torch_resize(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    """Antialiased bilinear resize (torch's matches pillow's filter), float64 (H, W, C)."""
    t = torch.from_numpy(pixels.astype(np.float64)).permute(2, 0, 1)[None]
    resized = F.interpolate(
        t, size=(height, width), mode="bilinear", antialias=True, align_corners=False
    )
    return resized[0].permute(1, 2, 0).numpy()


@pytest.mark.parametrize("space, order", [("RGB", [0, 1, 2]), ("BGR", [2, 1, 0])])
def test_same_size_images_keep_their_pixels_in_the_colour_space_order(space, order):
    pixels = gradient_image(6, 4)
    result = images.to_pixels(Image.fromarray(pixels), image_type(6, 4, space))
    assert result.dtype == np.float32 and result.shape == (4, 6, 3)
    np.testing.assert_array_equal(result, pixels[..., order])
    np.testing.assert_array_equal(
        images.to_pixels(pixels, image_type(6, 4, space)), pixels[..., order]
    )


def test_grayscale_uses_luma_for_colour_inputs():
    pixels = gradient_image(5, 3)
    luma = pixels.astype(np.float64) @ [0.299, 0.587, 0.114]
    result = images.to_pixels(Image.fromarray(pixels), image_type(5, 3, "GRAYSCALE"))
    assert result.shape == (3, 5, 1)
    np.testing.assert_allclose(result[..., 0], luma, atol=0.5 + 1e-9)  # 8-bit rounding
    floats = images.to_pixels(pixels.astype(np.float32), image_type(5, 3, "GRAYSCALE"))
    np.testing.assert_allclose(floats[..., 0], luma, rtol=1e-6)


@needs("torch")
def test_scale_fill_is_the_default_and_matches_an_antialiased_bilinear_resize():
    pixels = gradient_image(60, 40)
    expected = torch_resize(pixels, 28, 21)
    result = images.to_pixels(Image.fromarray(pixels), image_type(21, 28, "RGB"))
    np.testing.assert_allclose(result, expected, atol=1.0)  # 8-bit pixels, rounded
    exact = images.to_pixels(pixels.astype(np.float32), image_type(21, 28, "RGB"))
    np.testing.assert_allclose(exact, expected, atol=1e-3)


@needs("torch")
def test_center_crop_keeps_the_middle_at_the_aspect_ratio():
    pixels = gradient_image(80, 40)  # 2:1 -> fit the height (40 -> 20), keep columns 10..30
    value = images.ImageValue(pixels.astype(np.float32), crop_and_scale="centerCrop")
    result = images.to_pixels(value, image_type(20, 20, "RGB"))
    expected = torch_resize(pixels, 20, 40)[:, 10:30]
    np.testing.assert_allclose(result, expected, atol=1e-3)


@needs("torch")
def test_scale_fit_letterboxes_with_zeros():
    pixels = gradient_image(40, 80)  # 1:2 -> fit the height (80 -> 20), width 10, centred
    value = images.ImageValue(Image.fromarray(pixels), images.CropAndScale.SCALE_FIT)
    result = images.to_pixels(value, image_type(20, 20, "RGB"))
    assert np.all(result[:, :5] == 0) and np.all(result[:, 15:] == 0)
    np.testing.assert_allclose(result[:, 5:15], torch_resize(pixels, 20, 10), atol=1.0)


def test_files_are_read_with_their_exif_orientation(tmp_path):
    pixels = gradient_image(8, 4)
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "photo.jpg"
    image.save(path, exif=exif, quality=100, subsampling=0)
    result = images.to_pixels(path, image_type(4, 8, "RGB"))
    upright = np.rot90(pixels, k=-1)  # what a viewer shows: 4 wide, 8 high
    np.testing.assert_allclose(result, upright, atol=6)  # JPEG noise
    assert result.shape == (8, 4, 3)


@pytest.mark.parametrize(
    "value, message",
    [
        (np.zeros((2, 3, 5)), r"a pixel array must be \(H, W\) or \(H, W, 1\|3\|4\); got shape"),
        (42, "expected an image .*; got int"),
        ("/nonexistent/cat.png", "image file /nonexistent/cat.png does not exist"),
        (images.ImageValue(np.zeros((2, 2)), "stretch"), "unknown crop-and-scale option 'stretch'"),
    ],
)
def test_image_errors_name_the_input(value, message):
    with pytest.raises(FeatureError, match=f"input 'photo': {message}"):
        images.to_pixels(value, image_type(2, 2, "RGB"), name="photo")


def test_unreadable_files_are_refused(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("not an image")
    with pytest.raises(FeatureError, match=r"notes\.png is not a readable image"):
        images.to_pixels(path, image_type(2, 2, "RGB"))


# ---- through a model ----------------------------------------------------------------------


def test_image_model_preprocesses_like_core_ml():
    """BGR image input with scale and per-channel biases, then a 1x1 identity-like network."""
    builder = NeuralNetworkBuilder(
        [("photo", datatypes.Array(3, 4, 5))], [("out", datatypes.Array(3, 4, 5))]
    )
    builder.add_elementwise("keep", ["photo"], "out", "ADD", 0.0)
    builder.set_pre_processing_parameters(
        image_input_names=["photo"],
        is_bgr=True,
        red_bias=-1.0,
        green_bias=-2.0,
        blue_bias=-3.0,
        image_scale=0.5,
    )
    model = runtime.Model.load(builder.spec)
    pixels = gradient_image(5, 4)
    out = model.predict({"photo": Image.fromarray(pixels)})["out"]
    bgr = pixels[..., ::-1].astype(np.float64).transpose(2, 0, 1)
    expected = 0.5 * bgr + np.float64([-3.0, -2.0, -1.0])[:, None, None]
    assert out.dtype == np.float64 and out.shape == (3, 4, 5)
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_mean_image_preprocessing_subtracts_the_c_h_w_mean():
    builder = NeuralNetworkBuilder([("gray", datatypes.Array(1, 3, 2))], [("out", None)])
    builder.add_elementwise("keep", ["gray"], "out", "ADD", 0.0)
    builder.set_pre_processing_parameters(image_input_names=["gray"])  # becomes an image input
    spec = builder.spec
    del spec.neuralNetwork.preprocessing[:]
    mean = np.arange(6.0) * 10  # [C, H, W] = [1, 3, 2], flattened
    spec.neuralNetwork.preprocessing.add(featureName="gray").meanImage.meanImage.extend(mean)
    pixels = np.uint8([[1, 2], [3, 4], [5, 6]])
    out = runtime.Model.load(spec).predict({"gray": pixels})["out"]
    np.testing.assert_allclose(out, pixels[None] - mean.reshape(1, 3, 2))


def test_model_predict_reports_wrong_inputs_clearly():
    model = runtime.Model.load(builders.classifier_nn())
    with pytest.raises(
        FeatureError,
        match=r"input 'image' \(a multiArray of shape \[4\] "
        r"\(DOUBLE\)\) is missing",
    ):
        model.predict({"img": np.zeros(4)})
    with pytest.raises(FeatureError, match=r"got an array of shape \(3,\)"):
        model.predict({"image": np.zeros(3)})
    with pytest.raises(TypeError, match="use predict_batch"):
        model.predict([{"image": np.zeros(4)}])


def test_predict_batch_accepts_rows_or_columns():
    model = runtime.Model.load(builders.classifier_nn())
    x = np.random.default_rng(0).standard_normal((5, 4))
    by_rows = model.predict_batch([{"image": row} for row in x])
    by_columns = model.predict_batch({"image": x}, batch_size=2)
    assert [r["label"] for r in by_rows] == [r["label"] for r in by_columns]
    for a, b in zip(by_rows, by_columns, strict=True):
        assert a["probs"] == pytest.approx(b["probs"], rel=1e-6)
