"""``updatable inspect`` says which parts of a model the runtime cannot run, before anything
runs: custom layers without a registered class, layers without a kind, model types without an
engine; pipelines and the networks inside loops included (``runtime.model.support``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from coremltools.models import datatypes
from coremltools.models.neural_network import NeuralNetworkBuilder
from coremltools.models.pipeline import Pipeline

import runtime
import updatable
from runtime.model.support import unsupported_parts
from tests.builders import knn_pipelines, torch_zoo
from tests.optional import needs
from updatable import proto
from updatable.cli import main
from updatable.spec import network

CLASS = "ScaledSwish"
CUSTOM_REASON = (
    f"custom layer class '{CLASS}' has no implementation; Core ML runs it with the app's own "
    f"code: register a Python one with runtime.register_custom_layer('{CLASS}', forward)"
)


def custom_model() -> proto.Model:
    """coremltools' builder: dense -> custom ``CLASS`` -> softmax."""
    builder = NeuralNetworkBuilder(
        [("x", datatypes.Array(5))], [("out", datatypes.Array(3))], disable_rank5_shape_mapping=True
    )
    weights = np.linspace(-1, 1, 15, dtype=np.float32).reshape(3, 5)
    builder.add_inner_product(
        "dense",
        W=weights,
        b=None,
        input_channels=5,
        output_channels=3,
        has_bias=False,
        input_name="x",
        output_name="h",
    )
    params = proto.NeuralNetwork_pb2.CustomLayerParams(className=CLASS, description="swish")
    builder.add_custom("swish", ["h"], ["s"], params)
    builder.add_softmax_nd("probs", "s", "out", axis=-1)
    return builder.spec


def feature_print_pipeline() -> proto.Model:
    """A Create ML style pipeline: Apple's Vision feature print, then an updatable kNN."""
    pipeline = Pipeline([("image", datatypes.Array(3, 8, 8))], [("output", datatypes.String())])
    vision = proto.Model(specificationVersion=4)
    vision.visionFeaturePrint.scene.version = 1
    vision.description.input.add(name="image").type.multiArrayType.shape.extend([3, 8, 8])
    vision.description.output.add(name="input").type.multiArrayType.shape.append(4)
    pipeline.add_model(vision)
    pipeline.add_model(knn_pipelines.empty_knn(dims=4))
    return pipeline.spec


def inspect(path, capsys, *options) -> tuple[int, str]:
    code = main(["inspect", str(path), *options])
    return code, capsys.readouterr().out


def test_a_builder_model_with_a_custom_layer_names_its_class(tmp_path, capsys):
    path = tmp_path / "Custom.mlmodel"
    updatable.save(custom_model(), path)
    before = path.read_bytes()
    code, text = inspect(path, capsys)
    assert code == 0
    assert "will it run: no, 1 part(s) cannot run:" in text
    assert f"  layers['swish']: {CUSTOM_REASON}" in text.splitlines()
    code, raw = inspect(path, capsys, "--json")
    assert code == 0
    assert json.loads(raw)["unsupported"] == [
        {"where": "layers['swish']", "layer": "swish", "kind": "custom", "reason": CUSTOM_REASON}
    ]
    assert path.read_bytes() == before  # inspect reads only


def test_a_registered_custom_class_runs():
    runtime.register_custom_layer(CLASS, lambda inputs, **_: inputs[0])
    try:
        assert unsupported_parts(custom_model()) == []
        out = runtime.Model.load(custom_model()).predict({"x": [1, 2, 3, 4, 5]})["out"]
        assert out.shape == (3,)
    finally:
        runtime.unregister_custom_layer(CLASS)
    assert [p.kind for p in unsupported_parts(custom_model())] == ["custom"]


def test_a_pipeline_with_a_proprietary_model_type_names_its_position(tmp_path, capsys):
    path = tmp_path / "FeaturePrintKNN.mlmodel"
    updatable.save(feature_print_pipeline(), path)
    code, raw = inspect(path, capsys, "--json")
    assert code == 0
    (part,) = json.loads(raw)["unsupported"]
    assert part["where"] == "models[0]" and part["layer"] is None
    assert part["kind"] == "visionFeaturePrint"
    assert part["reason"] == (
        "cannot run model type 'visionFeaturePrint', Apple's Vision feature print (a "
        "proprietary image embedding): Apple's frameworks compute it on the device; no "
        "off-device implementation exists"
    )
    code, text = inspect(path, capsys)
    assert f"  models[0]: {part['reason']}" in text.splitlines()


@needs("torch")
@pytest.mark.parametrize("name", ["resnet", "transformer", "gru_text"])
def test_a_converted_torch_model_runs_entirely(name, tmp_path, capsys):
    path = tmp_path / f"{name}.mlmodel"
    updatable.save(torch_zoo.converted(name, "iOS14"), path)
    code, text = inspect(path, capsys)
    assert code == 0
    assert text.splitlines()[-1] == (
        "will it run: yes, every model type has an engine and every layer a unit"
    )
    assert json.loads(inspect(path, capsys, "--json")[1])["unsupported"] == []


@needs("torch")
def test_layers_inside_a_loop_body_are_checked_too():
    spec = torch_zoo.converted("gru_text", "iOS14")
    loop = next(x for x in network(spec).layers if x.WhichOneof("layer") == "loop")
    body = loop.loop.bodyNetwork.layers
    body[1].custom.className = CLASS  # replaces the layer's kind with a custom class
    body[2].ClearField(body[2].WhichOneof("layer"))
    parts = unsupported_parts(spec)
    prefix = f"layers['{loop.name}'].loop.bodyNetwork/"
    assert [(p.where, p.kind) for p in parts] == [
        (f"{prefix}layers['{body[1].name}']", "custom"),
        (f"{prefix}layers['{body[2].name}']", ""),
    ]
    assert parts[1].reason.startswith("the layer has no kind")


def test_a_model_type_without_an_engine_at_the_top_level():
    spec = proto.Model(specificationVersion=4)
    spec.mlProgram.SetInParent()
    (part,) = unsupported_parts(spec)
    assert (part.where, part.layer, part.kind) == ("model", None, "mlProgram")
    assert "convert_to='neuralnetwork'" in part.reason
    assert unsupported_parts(proto.Model())[0].reason.startswith("the model has no type")
