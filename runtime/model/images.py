"""Runtime, model layer: image feature values: pillow images, image files or pixel arrays -> the
model's image size and colour space, with Core ML's crop-and-scale options.

An image input (``ImageFeatureType``: ``width``, ``height``, ``colorSpace`` RGB, BGR, GRAYSCALE)
becomes a float32 ``(H, W, C)`` array of pixel values 0..255 in the colour space's channel
order (RGB: R, G, B; BGR: B, G, R; grayscale: one channel); the network's preprocessing is
applied later, by the engine.

Crop and scale (Vision's ``VNImageCropAndScaleOption``, which Core ML's ``MLFeatureValue``
image initialisers take under ``MLFeatureValue.ImageOption.cropAndScale``):

* ``scaleFill``: resize to exactly ``width x height``, changing the aspect ratio;
* ``scaleFit``: keep the aspect ratio, fit the longer side, centre the image and fill the rest
  with 0 (Vision leaves it transparent black);
* ``centerCrop``: keep the aspect ratio, fit the shorter side, keep the centre.

Default: ``scaleFill``. Core ML's image initialisers document no default for the option; given
no option they resize the whole image to the requested size, which is ``scaleFill`` (Vision's
``VNCoreMLRequest``, a different API, defaults to ``centerCrop``, and its newer
``CoreMLRequest`` to ``scaleToFill``). Pass an :class:`ImageValue` to choose per value.

Resampling is pillow's bilinear filter (antialiased when shrinking) on 8-bit pixels, as an
image feature is an 8-bit pixel buffer on the device; files are read with their EXIF
orientation applied, as ``MLFeatureValue(imageAt:)`` does. Float pixel arrays (an extension)
keep their precision: they are resized channel by channel in pillow's 32-bit float mode.
"""

from __future__ import annotations

import enum
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime.kernels import memory
from updatable.errors import FeatureError


class CropAndScale(enum.StrEnum):
    """How an image of another size is brought to the model's size (Vision's names)."""

    SCALE_FILL = "scaleFill"
    SCALE_FIT = "scaleFit"
    CENTER_CROP = "centerCrop"


DEFAULT_CROP_AND_SCALE = CropAndScale.SCALE_FILL


@dataclass(frozen=True)
class ImageValue:
    """An image feature value with its options, like ``MLFeatureValue(cgImage:constraint:
    options:)``: ``source`` is a pillow image, a file path or a pixel array."""

    source: object
    crop_and_scale: CropAndScale | str = DEFAULT_CROP_AND_SCALE


def image_channels(image_type) -> tuple[str, int]:
    """(``"RGB"`` | ``"BGR"`` | ``"GRAYSCALE"``, channel count) of an ``ImageFeatureType``."""
    names = {
        image_type.RGB: "RGB",
        image_type.BGR: "BGR",
        image_type.GRAYSCALE: "GRAYSCALE",
        image_type.GRAYSCALE_FLOAT16: "GRAYSCALE",
    }
    name = names.get(image_type.colorSpace)
    if name is None:
        raise FeatureError(
            f"image colour space {image_type.colorSpace} is not supported; expected RGB, BGR or "
            "GRAYSCALE"
        )
    return name, 1 if name == "GRAYSCALE" else 3


def to_pixels(value, image_type, *, name: str = "image") -> np.ndarray:
    """Convert one image value to ``(height, width, C)`` float32 pixels of ``image_type``."""
    from PIL import Image

    option: CropAndScale | str = DEFAULT_CROP_AND_SCALE
    if isinstance(value, ImageValue):
        option, value = value.crop_and_scale, value.source
    try:
        option = CropAndScale(option)
    except ValueError:
        raise FeatureError(
            f"input '{name}': unknown crop-and-scale option {option!r}; expected one of "
            f"{[o.value for o in CropAndScale]}"
        ) from None
    space, channels = image_channels(image_type)
    size = (int(image_type.width), int(image_type.height))
    if size[0] < 1 or size[1] < 1:
        raise FeatureError(
            f"input '{name}': the model declares an image of {size[0]} x {size[1]} pixels; "
            "expected a positive width and height"
        )
    # pillow's 8-bit image, its float32 pixels and the channel-ordered copy; images of usual
    # sizes skip the check (it reads the available memory, once per image otherwise)
    needed = size[0] * size[1] * channels * 9
    if needed > memory.CHECK_ABOVE:
        memory.check(
            f"an image input '{name}' of {size[0]} x {size[1]} pixels",
            needed,
            "use a model whose image input is smaller",
        )
    if isinstance(value, (str, os.PathLike)):
        value = _open(Path(value), name)
    if isinstance(value, Image.Image):
        image = value.convert("L" if channels == 1 else "RGB")
        pixels = np.asarray(_fit(image, size, option), dtype=np.float32)
    elif isinstance(value, np.ndarray | list | tuple):
        pixels = _array_pixels(np.asarray(value), size, option, channels, name)
    else:
        raise FeatureError(
            f"input '{name}': expected an image (pillow Image, file path or pixel array "
            f"(H, W[, C])); got {type(value).__name__}"
        )
    pixels = pixels.reshape(size[1], size[0], -1)
    return np.ascontiguousarray(pixels[..., ::-1] if space == "BGR" else pixels)


def _open(path: Path, name: str):
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # a file of more pixels than pillow's bound (Image.MAX_IMAGE_PIXELS) warns, or
            # raises beyond twice that: both are refused here, with the file named
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return ImageOps.exif_transpose(image).copy()
    except FileNotFoundError:
        raise FeatureError(f"input '{name}': image file {path} does not exist") from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise FeatureError(f"input '{name}': {path} is too large to read safely ({exc})") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise FeatureError(f"input '{name}': {path} is not a readable image ({exc})") from None


def _geometry(src: tuple[int, int], dst: tuple[int, int], option: CropAndScale):
    """(resized size, crop box in the resized image or None, paste offset or None)."""
    (sw, sh), (dw, dh) = src, dst
    if option is CropAndScale.SCALE_FILL or (sw, sh) == (dw, dh):
        return (dw, dh), None, None
    if option is CropAndScale.CENTER_CROP:
        scale = max(dw / sw, dh / sh)
        rw, rh = max(dw, round(sw * scale)), max(dh, round(sh * scale))
        left, top = (rw - dw) // 2, (rh - dh) // 2
        return (rw, rh), (left, top, left + dw, top + dh), None
    scale = min(dw / sw, dh / sh)
    rw, rh = min(dw, max(1, round(sw * scale))), min(dh, max(1, round(sh * scale)))
    return (rw, rh), None, ((dw - rw) // 2, (dh - rh) // 2)


def _fit(image, size: tuple[int, int], option: CropAndScale):
    """Resize one pillow image (any mode) to ``size`` with the crop-and-scale ``option``."""
    from PIL import Image

    resized_size, crop, offset = _geometry(image.size, size, option)
    resized = (
        image
        if image.size == resized_size
        else image.resize(resized_size, Image.Resampling.BILINEAR)
    )
    if crop is not None:
        return resized.crop(crop)
    if offset is not None:
        canvas = Image.new(image.mode, size, 0)
        canvas.paste(resized, offset)
        return canvas
    return resized


def _array_pixels(array, size, option, channels, name) -> np.ndarray:
    from PIL import Image

    if array.ndim == 3 and array.shape[2] in (1, 3, 4):
        array = array[..., 0] if array.shape[2] == 1 else array[..., :3]  # alpha is dropped
    elif array.ndim != 2:
        raise FeatureError(
            f"input '{name}': a pixel array must be (H, W) or (H, W, 1|3|4); got shape "
            f"{array.shape}"
        )
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise FeatureError(f"input '{name}': pixel arrays must be numeric; got {array.dtype}")
    if array.dtype == np.uint8:  # 8-bit pixels take the same path as pillow images
        image = Image.fromarray(np.ascontiguousarray(array)).convert(
            "L" if channels == 1 else "RGB"
        )
        return np.asarray(_fit(image, size, option), dtype=np.float32)
    planes = array.reshape(array.shape[0], array.shape[1], -1).astype(np.float32)
    if planes.shape[2] == 3 and channels == 1:  # ITU-R 601-2 luma, as pillow's "L" conversion
        planes = planes @ np.array([0.299, 0.587, 0.114], np.float32)[:, None]
    elif planes.shape[2] == 1 and channels == 3:
        planes = np.repeat(planes, 3, axis=2)
    fitted = [
        np.asarray(_fit(Image.fromarray(np.ascontiguousarray(planes[..., c])), size, option))
        for c in range(channels)
    ]
    return np.stack(fitted, axis=-1).astype(np.float32)
