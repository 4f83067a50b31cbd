"""Runtime, neural-network layer: a network's model inputs as blobs: their Core ML tensors, the
layout the runtime first holds them in, and image preprocessing.

Core ML's shape mappings (NeuralNetwork.proto, ``NeuralNetworkMultiArrayShapeMapping`` and
``NeuralNetworkImageShapeMapping``):

* ``RANK5_ARRAY_MAPPING`` (spec <= 3): a multiArray ``[C]`` is the tensor ``[1, 1, C, 1, 1]``,
  ``[C, H, W]`` is ``[1, 1, C, H, W]`` (a declared rank-5 ``[1, 1, C, H, W]`` is taken as is);
  held ``chw``, as every blob of such a network;
* ``EXACT_ARRAY_MAPPING`` (spec >= 4): the declared shape and rank pass through; held ``nd``
  (the compiler may then hold it ``chw`` when only ``chw`` layers read it,
  ``runtime.nn.graph``);
* images: ``[1, 1, C, H, W]`` (``RANK5_IMAGE_MAPPING``) or ``[1, C, H, W]``
  (``RANK4_IMAGE_MAPPING``), ``C`` = 3 for colour and 1 for grayscale; always ``chw``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runtime.nn.layers.base import Shape
from runtime.nn.tensors import CHW, ND, Tensor
from updatable.errors import ShapeError, UnsupportedModelError

EXACT_ARRAY_MAPPING = 1  # NeuralNetworkMultiArrayShapeMapping
RANK4_IMAGE_MAPPING = 1  # NeuralNetworkImageShapeMapping


@dataclass(frozen=True)
class ImagePreprocessing:
    """Core ML's image preprocessing for one input (``NeuralNetworkImageScaler`` /
    ``NeuralNetworkMeanImage``): ``y = channelScale * x + bias_c``, then ``y - meanImage``.

    ``bias`` is per channel in the image's channel order (``[blueBias, greenBias, redBias]`` for
    BGR, ``[redBias, greenBias, blueBias]`` for RGB, ``[grayBias]`` for grayscale); ``mean`` is
    ``(H, W, C)``. ``channelScale`` is used as stored: the proto gives it no default, and
    coremltools' builder always writes it (1.0 unless asked otherwise).
    """

    scale: float = 1.0
    bias: np.ndarray | None = None
    mean: np.ndarray | None = None

    def apply(self, pixels: np.ndarray) -> np.ndarray:
        """Preprocess a batch of images ``(N, H, W, C)`` (float32 pixel values 0..255)."""
        y = pixels * np.float32(self.scale) if self.scale != 1.0 else pixels.astype(np.float32)
        if self.bias is not None:
            y = y + self.bias
        if self.mean is not None:
            y = y - self.mean
        return np.ascontiguousarray(y, dtype=np.float32)


def input_tensor(feature, net) -> Tensor | None:
    """The tensor of a model input under the network's shape mappings (module docstring), or
    ``None`` for inputs a network cannot read (String, Int64, dictionaries...)."""
    kind = feature.type.WhichOneof("Type")
    if kind == "imageType":
        image = feature.type.imageType
        channels = 1 if image.colorSpace in (image.GRAYSCALE, image.GRAYSCALE_FLOAT16) else 3
        lead = (1,) if net.imageInputShapeMapping == RANK4_IMAGE_MAPPING else (1, 1)
        return Tensor((*lead, channels, int(image.height), int(image.width)), CHW)
    if kind != "multiArrayType":
        return None
    dims = tuple(int(d) for d in feature.type.multiArrayType.shape)
    if net.arrayInputShapeMapping == EXACT_ARRAY_MAPPING:
        if not dims or min(dims) < 1:
            raise ShapeError(
                f"input '{feature.name}': multiArray shape {list(dims)} has no tensor meaning; "
                "under EXACT_ARRAY_MAPPING declare every axis with a positive size"
            )
        return Tensor(dims, ND)
    if len(dims) == 1:
        return Tensor((1, 1, dims[0], 1, 1), CHW)
    if len(dims) == 3 or (len(dims) == 5 and dims[:2] == (1, 1)):
        return Tensor((1, 1, *dims[-3:]), CHW)
    raise ShapeError(
        f"input '{feature.name}': multiArray shape {list(dims)} has no rank-5 meaning; Core ML "
        "neural networks take [C] or [C, H, W] arrays"
    )


def input_shape(feature, exact: bool = False) -> Shape | None:
    """The ``(H, W, C)`` a rank-5 reader sees for a model input (the ONNX export's view), or
    ``None`` for inputs a network cannot read. With ``exact`` a multiArray is a tensor of its
    own rank read as ``[C, H, W]`` from its last three axes (missing axes 1); an axis larger
    than 1 in front of those has no rank-5 meaning and is refused."""
    kind = feature.type.WhichOneof("Type")
    if kind == "imageType":
        image = feature.type.imageType
        channels = 1 if image.colorSpace in (image.GRAYSCALE, image.GRAYSCALE_FLOAT16) else 3
        return int(image.height), int(image.width), channels
    if kind != "multiArrayType":
        return None
    dims = [int(d) for d in feature.type.multiArrayType.shape]
    if exact and dims:
        if any(d != 1 for d in dims[:-3]):
            raise ShapeError(
                f"input '{feature.name}': multiArray shape {dims} has an axis larger than 1 "
                "before its last three; a rank-5 reader takes at most [C, H, W] per example"
            )
        channels, height, width = [1, 1, 1, *dims][-3:]
        return height, width, channels
    if len(dims) == 1:
        return 1, 1, dims[0]
    if len(dims) == 3 or (len(dims) == 5 and dims[:2] == [1, 1]):
        channels, height, width = dims[-3:]
        return height, width, channels
    raise ShapeError(
        f"input '{feature.name}': multiArray shape {dims} has no rank-5 meaning; Core ML "
        "neural networks take [C] or [C, H, W] arrays"
    )


def preprocessing(spec, net, inputs: dict[str, Tensor]) -> dict[str, ImagePreprocessing]:
    """Image input name -> its :class:`ImagePreprocessing` (scaler and mean image combined)."""
    images = {
        f.name: f.type.imageType
        for f in spec.description.input
        if f.type.WhichOneof("Type") == "imageType"
    }
    result: dict[str, ImagePreprocessing] = {}
    for entry in net.preprocessing:
        name = entry.featureName or (next(iter(images)) if len(images) == 1 else "")
        if name not in images:
            raise UnsupportedModelError(
                f"preprocessing names input '{entry.featureName}', which is not an image input; "
                f"image inputs: {sorted(images)}"
            )
        current = result.get(name, ImagePreprocessing())
        if entry.WhichOneof("preprocessor") == "scaler":
            s = entry.scaler
            color = images[name].colorSpace
            bias = {
                images[name].BGR: [s.blueBias, s.greenBias, s.redBias],
                images[name].RGB: [s.redBias, s.greenBias, s.blueBias],
            }.get(color, [s.grayBias])
            current = ImagePreprocessing(
                float(s.channelScale), np.asarray(bias, np.float32), current.mean
            )
        elif entry.WhichOneof("preprocessor") == "meanImage":
            height, width, channels = inputs[name].chw
            values = np.asarray(entry.meanImage.meanImage, dtype=np.float32)
            if values.size != height * width * channels:
                raise ShapeError(
                    f"meanImage of input '{name}' has {values.size} values; expected C*H*W = "
                    f"{channels * height * width}"
                )
            mean = values.reshape(channels, height, width).transpose(1, 2, 0).copy()
            current = ImagePreprocessing(current.scale, current.bias, mean)
        result[name] = current
    return result
