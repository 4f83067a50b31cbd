"""Our lint X13: a network feature newer than the model's specificationVersion (a device with an
older Core ML cannot read the model; Core ML's validator does not say so)."""

from __future__ import annotations

from tests.builders import every_layer
from updatable.validation import core_ml_issue, validate


def _x13(spec):
    return [issue for issue in validate(spec) if issue.code == "X13"]


def test_an_ios14_layer_in_a_version_4_model():
    spec = every_layer.network("cumSum")
    assert core_ml_issue(spec) is None  # Core ML's validator accepts it
    (issue,) = _x13(spec)
    assert (issue.severity, issue.where) == ("warning", "layers['L']")
    assert issue.message == (
        "cumSum needs specification version 5 (iOS 14), but the model declares 4: Core ML "
        "before iOS 14 cannot read it; set specificationVersion to 5 (coremltools does when "
        "it saves the model)"
    )
    spec.specificationVersion = 5
    assert not _x13(spec)


def test_ios14_options_of_older_kinds():
    spec = every_layer.network("innerProduct")
    layer = every_layer.nested(spec)
    layer.innerProduct.int8DynamicQuantize = True
    assert "innerProduct with int8DynamicQuantize needs specification version 5" in (
        _x13(spec)[0].message
    )
    spec = every_layer.network("concatND")
    every_layer.nested(spec).concatND.interleave = True
    assert _x13(spec)[0].message.startswith("concatND with interleave needs")


def test_nd_layers_and_mappings_need_version_4():
    spec = every_layer.network("softmaxND")
    spec.specificationVersion = 3
    assert "needs specification version 4 (iOS 13)" in _x13(spec)[0].message
    spec.neuralNetwork.arrayInputShapeMapping = 0  # then the layer is the first reason
    assert _x13(spec)[0].message.startswith("softmaxND needs specification version 4 (iOS 13)")
    spec = every_layer.network("softmax")
    spec.specificationVersion = 2
    issue = _x13(spec)[0]
    assert (issue.where, issue.message[:28]) == (
        "arrayInputShapeMapping",
        "an N-d input shape mapping n",
    )


def test_older_features():
    spec = every_layer.network("custom")
    spec.specificationVersion = 1
    assert "needs specification version 4" in _x13(spec)[0].message  # the N-d mapping wins
    spec.neuralNetwork.arrayInputShapeMapping = 0
    assert _x13(spec)[0].message.startswith("custom needs specification version 2 (iOS 11.2)")
    spec = every_layer.network("innerProduct")
    spec.specificationVersion = 2
    spec.neuralNetwork.arrayInputShapeMapping = 0
    weights = every_layer.nested(spec).innerProduct.weights
    weights.ClearField("floatValue")
    weights.rawValue = b"\x01" * 8
    weights.quantization.numberOfBits = 8
    assert _x13(spec)[0].message.startswith("innerProduct with quantized weights needs spec")


def test_nested_layers_count():
    spec = every_layer.network("loop")
    body = every_layer.nested(spec).loop.bodyNetwork.layers[0]
    body.ClearField("copy")
    body.clampedReLU.SetInParent()
    issue = _x13(spec)[0]
    assert issue.where == "layers['L_body']" and "clampedReLU needs specification version 5" in (
        issue.message
    )
