"""Defects the model fuzzer (tests/fuzz) found in models that pass Core ML's rules, each
pinned by its minimal reproduction."""

from __future__ import annotations

import numpy as np
import pytest

import runtime
from tests import builders
from updatable.errors import FeatureError, ShapeError
from updatable.spec import find_layer
from updatable.validation import core_ml_issue


def test_an_inner_product_with_zero_output_channels_and_no_weights_is_a_shape_error():
    # was: numpy "cannot reshape array of size 0 into shape (0,newaxis)"
    spec = builders.updatable_nn("cce", "adam")
    layer = find_layer(spec, "ip1").innerProduct
    layer.outputChannels = 0
    layer.weights.ClearField("floatValue")
    with pytest.raises(
        ShapeError,
        match=r"^layer 'ip1' \(innerProduct\): weights would hold 0 "
        r"values; its channel counts must be positive$",
    ):
        runtime.Model.load(spec)


def test_a_pipeline_output_its_sub_model_declares_but_does_not_compute_is_a_feature_error():
    # was: KeyError 'labelProbs' at prediction
    spec = builders.tiny_drawing_pipeline()
    knn = spec.pipelineClassifier.pipeline.models[1]
    knn.description.predictedProbabilitiesName = ""  # still lists 'labelProbs' as an output
    assert core_ml_issue(spec) is None
    model = runtime.Model.load(spec)
    with pytest.raises(
        FeatureError,
        match=r"^the pipeline's outputs \['labelProbs'\] were not "
        r"produced",
    ):
        model.predict({"drawing": np.zeros((28, 28), np.uint8)})
