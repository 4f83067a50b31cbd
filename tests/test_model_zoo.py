"""The model zoo builds: every torch model converts with today's coremltools for each target
(or fails exactly as recorded), with the declared model type, input, outputs and layer kinds,
and so does every converter-style builder network.

On Linux coremltools has no native library, so ``ct.models.MLModel(spec,
skip_model_load=True)`` accepts any message (it does not run Core ML's validator); the checks
that can fail here are the protobuf round trip and this project's port of Core ML's validator.
Conversions are cached (``tests/builders/torch_zoo.py``), so a warm run takes a second.
"""

from __future__ import annotations

import collections
import importlib.util
import logging
import warnings

import numpy as np
import pytest

import updatable
from tests.builders import converter_style, torch_zoo
from updatable import proto

needs_torch = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="the torch zoo needs torch (the test extra)"
)
CASES = [(name, target) for name in torch_zoo.ZOO for target in torch_zoo.TARGETS]


def _kinds(network) -> collections.Counter:
    """Layer kinds with counts, loop and branch bodies included."""
    found = collections.Counter()
    for layer in network.layers:
        kind = layer.WhichOneof("layer")
        found[kind] += 1
        params = getattr(layer, kind)
        for fd in params.DESCRIPTOR.fields:
            if (
                fd.message_type is not None
                and fd.message_type.name == "NeuralNetwork"
                and params.HasField(fd.name)
            ):
                found += _kinds(getattr(params, fd.name))
    return found


def _coremltools_accepts(spec) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            import coremltools as ct

            ct.models.MLModel(spec, skip_model_load=True)
        finally:
            logging.disable(logging.NOTSET)
    again = proto.Model()
    again.ParseFromString(spec.SerializeToString())
    assert again == spec


def _check_input(entry, feature) -> None:
    spec = entry.input
    assert feature.name == spec.name
    if spec.image:
        image = feature.type.imageType
        assert proto.ImageFeatureType.ColorSpace.Name(image.colorSpace) == spec.image
        assert (image.height, image.width) == spec.shape[2:]
    else:
        array = feature.type.multiArrayType
        assert tuple(array.shape) == spec.shape
        # the neuralnetwork backend declares integer inputs (token ids) FLOAT32 too
        assert proto.ArrayFeatureType.ArrayDataType.Name(array.dataType) == "FLOAT32"


@needs_torch
@pytest.mark.parametrize(("name", "target"), CASES, ids=[f"{n}-{t}" for n, t in CASES])
def test_torch_zoo_converts(name, target):
    entry = torch_zoo.entry(name)
    error = torch_zoo.conversion_error(name, target)
    if target in entry.failures:  # pinned: a coremltools that converts it should be noticed
        assert error is not None and entry.failures[target] in error, error
        return
    assert error is None, error
    spec = torch_zoo.converted(name, target)
    # coremltools writes the lowest version the layers need: 5 only where iOS 13 cannot have it
    assert spec.specificationVersion == (5 if "iOS13" in entry.failures else 4)
    (feature,) = spec.description.input
    _check_input(entry, feature)
    if entry.labels is None:
        assert spec.WhichOneof("Type") == "neuralNetwork"
        (output,) = spec.description.output
        assert output.type.WhichOneof("Type") == "multiArrayType"
        network = spec.neuralNetwork
    else:
        assert spec.WhichOneof("Type") == "neuralNetworkClassifier"
        network = spec.neuralNetworkClassifier
        labels = list(network.stringClassLabels.vector) or list(network.int64ClassLabels.vector)
        assert labels == list(entry.labels)
        outputs = {o.name: o.type.WhichOneof("Type") for o in spec.description.output}
        assert outputs == {
            spec.description.predictedFeatureName: (
                "stringType" if isinstance(entry.labels[0], str) else "int64Type"
            ),
            spec.description.predictedProbabilitiesName: "dictionaryType",
        }
    missing = entry.layers - set(_kinds(network))
    assert not missing, f"{name} for {target} lost layer kinds {sorted(missing)}"
    errors = [i for i in updatable.validate(spec, lint=False) if i.severity == "error"]
    assert not errors, errors
    _coremltools_accepts(spec)


@needs_torch
def test_converted_specs_are_fresh_copies():
    first = torch_zoo.converted("tabular_mlp", "iOS13")
    first.description.input[0].name = "changed"
    assert torch_zoo.converted("tabular_mlp", "iOS13").description.input[0].name == "features"
    assert torch_zoo.tensor_shapes("tabular_mlp", "iOS13")["features"] == [1, 13]


@needs_torch
@pytest.mark.parametrize("name", sorted(torch_zoo.ZOO))
def test_torch_zoo_inputs_fit_the_model(name):
    entry = torch_zoo.entry(name)
    real, labels = torch_zoo.real_batch(name, 3, seed=1)
    random = torch_zoo.random_batch(name, 3, seed=1)
    for batch in (real, random):
        assert batch.dtype == random.dtype and batch.shape == random.shape
        assert len(torch_zoo.feeds(name, batch[0])) == 1
    out = torch_zoo.torch_predict(name, real)
    assert out.shape[0] == 3 and np.isfinite(out).all()
    if entry.labels is not None:
        assert out.shape == (3, len(entry.labels))
        np.testing.assert_allclose(out.sum(axis=1), 1, rtol=1e-5)
        assert labels.shape == (3,) and labels.max() < len(entry.labels)


@pytest.mark.parametrize("name", sorted(converter_style.CONVERTER_STYLE))
def test_converter_style_networks_build(name):
    spec = converter_style.CONVERTER_STYLE[name]()
    network = getattr(spec, spec.WhichOneof("Type"))
    assert spec.WhichOneof("Type") in ("neuralNetwork", "neuralNetworkClassifier")
    assert len(network.layers) >= 4
    nd = name.startswith(("tf2_", "nd_"))
    assert (network.arrayInputShapeMapping == 1) == nd  # EXACT_ARRAY_MAPPING for N-D models
    assert spec.specificationVersion == (4 if nd else 1)
    errors = [i for i in updatable.validate(spec, lint=False) if i.severity == "error"]
    assert not errors, errors
    _coremltools_accepts(spec)
