"""Helpers shared by the test-model builders, and coremltools' builder classes imported
quietly (coremltools logs warnings about its native library on Linux)."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings

import numpy as np

from updatable import proto

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    from coremltools.models import datatypes
    from coremltools.models.nearest_neighbors import KNearestNeighborsClassifierBuilder
    from coremltools.models.neural_network import AdamParams, NeuralNetworkBuilder, SgdParams

    logging.disable(logging.NOTSET)

__all__ = [
    "AdamParams",
    "KNearestNeighborsClassifierBuilder",
    "NeuralNetworkBuilder",
    "SgdParams",
    "datatypes",
]


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _to_grayscale_image(spec, name, width, height):
    for feature in spec.description.input:
        if feature.name == name:
            feature.type.imageType.width = width
            feature.type.imageType.height = height
            feature.type.imageType.colorSpace = feature.type.imageType.GRAYSCALE


def _quiet_quantize(spec, nbits: int, layers):
    """Quantize (nbits < 16) or halve (nbits = 16) the weights of ``layers`` with coremltools."""
    import contextlib
    import io

    from coremltools import models
    from coremltools.models.neural_network import quantization_utils

    class OnlyThese(quantization_utils.QuantizedLayerSelector):
        def do_quantize(self, layer, **kwargs):
            return super().do_quantize(layer) and layer.name in layers

    with contextlib.redirect_stdout(io.StringIO()):  # coremltools prints every layer
        quantization_utils._quantize_spec_weights(
            spec, nbits, models._QUANTIZATION_MODE_LINEAR_QUANTIZATION, selector=OnlyThese()
        )
    return spec


def _quiet():
    """coremltools' loss setters print to stdout; keep test output clean."""
    return contextlib.redirect_stdout(io.StringIO())


def set_float32(features):
    """Make every multiArray feature FLOAT32 (coremltools' NN builder writes DOUBLE)."""
    for feature in features:
        if feature.type.HasField("multiArrayType"):
            feature.type.multiArrayType.dataType = proto.ArrayFeatureType.FLOAT32
