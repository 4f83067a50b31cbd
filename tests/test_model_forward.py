"""Whole networks forward: runtime.Model against an independent torch reading of the spec.

The networks come from coremltools' builder (SqueezeNet 1.1 and a MobileNetV2-style stack from
``scripts/architectures.py``, the MNIST conv net of ``tests/builders.py``, an image classifier
with string labels and preprocessing). The reference is ``tests/torch_coreml.TorchNetwork``
(float64 ``torch.nn.functional``), extended here with the few layer kinds these networks add.
Also the graph's rewrites: fusion, in-place concat, freeing blobs, partial runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from coremltools.models import datatypes
from coremltools.models.neural_network import NeuralNetworkBuilder
from PIL import Image

import runtime
import updatable
from runtime.model.configuration import ModelConfiguration, ParameterKey
from runtime.nn.graph import compile_network
from scripts.architectures import mobilenet_v2_blocks, squeezenet_1_1
from tests import builders
from tests.digits import mnist_digits
from tests.optional import needs, optional_import
from tests.torch_coreml import TorchNetwork
from updatable.errors import FeatureError, ParameterError, ShapeError, UnsupportedModelError

torch = optional_import("torch")

RTOL = 1e-4


class Reference(TorchNetwork):
    """The torch reference plus batchnorm, clip and add (MobileNetV2-style networks)."""

    def _batchnorm(self, layer, xs):
        p = layer.batchnorm
        gamma, beta, mean, var = (
            torch.tensor(np.asarray(w.floatValue, np.float64))
            for w in (p.gamma, p.beta, p.mean, p.variance)
        )
        return torch.nn.functional.batch_norm(
            xs[0], mean, var, gamma, beta, False, 0.0, p.epsilon or 1e-5
        )

    def _clip(self, layer, xs):
        return torch.clamp(xs[0], layer.clip.minVal, layer.clip.maxVal)

    def _add(self, layer, xs):
        return sum(xs[1:], xs[0])


def reference_outputs(spec, feeds_nchw: dict, names) -> dict[str, np.ndarray]:
    """Named blobs of the torch reference, each flattened to (N, C*H*W)."""
    blobs = Reference(spec).forward(feeds_nchw)
    return {name: blobs[name].detach().numpy().reshape(len(blobs[name]), -1) for name in names}


def assert_close(actual, expected, what, rtol=RTOL):
    scale = np.abs(expected).max()
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale * 1e-2, err_msg=what)


# ---- the networks -------------------------------------------------------------------------


@needs("torch")
def test_squeezenet_1_1_matches_torch():
    spec = squeezenet_1_1(num_classes=100, seed=3)
    model = runtime.Model.load(spec)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 3, 227, 227))
    results = model.predict_batch({"data": x})
    expected = reference_outputs(spec, {"data": x}, ["probs", "logits"])
    probs = np.stack([r["probs"] for r in results])
    assert probs.shape == (2, 100) and probs.dtype == np.float64  # declared DOUBLE
    assert_close(probs, expected["probs"], "squeezenet probabilities")
    logits = model.engine.network.run(model.engine.to_blobs({"data": x}), outputs=["logits"])
    assert_close(logits["logits"].reshape(2, 100), expected["logits"], "logits")


def test_squeezenet_graph_fuses_every_relu_and_writes_concats_in_place():
    network = compile_network(squeezenet_1_1(num_classes=10))
    kinds = [step.kind.oneof for step in network.steps]
    assert "activation" not in kinds and kinds.count("convolution") == 26
    assert network.fused["conv1"] == "conv1" and "conv1_relu" in network.shapes
    expands = {name for name, (target, _, _) in network.placements.items()}
    assert len(expands) == 16  # both expand branches of the 8 fire modules
    assert network.placements["fire2_e3_relu"] == ("fire2_concat", 64, 128)


@needs("torch")
def test_mobilenet_v2_blocks_match_torch():
    spec = mobilenet_v2_blocks(input_chw=(3, 48, 40), num_classes=7, seed=1)
    kinds = {layer.WhichOneof("layer") for layer in spec.neuralNetwork.layers}
    assert {"convolution", "batchnorm", "clip", "add", "pooling", "innerProduct"} <= kinds
    groups = [x.convolution.nGroups for x in spec.neuralNetwork.layers if x.HasField("convolution")]
    assert max(groups) > 1  # depthwise convolutions
    model = runtime.Model.load(spec)
    x = np.random.default_rng(1).uniform(-1, 1, (3, 3, 48, 40))
    probs = np.stack([r["probs"] for r in model.predict_batch({"image": x})])
    assert_close(probs, reference_outputs(spec, {"image": x}, ["probs"])["probs"], "mobilenet")


@needs("torch")
def test_mnist_convnet_classifies_real_digits_like_torch():
    spec = builders.mnist_convnet(image_input=True)
    model = runtime.Model.load(spec)
    digits, _ = mnist_digits(6, seed=2)
    results = model.predict_batch(
        [{"image": Image.fromarray(d[0].astype(np.uint8))} for d in digits]
    )
    expected = reference_outputs(
        spec, {"image": digits.astype(np.float64) / 255.0}, ["digitProbabilities"]
    )["digitProbabilities"]
    labels = [str(i) for i in range(10)]
    for result, row in zip(results, expected, strict=True):
        assert list(result["digitProbabilities"]) == labels
        assert_close(np.float64([result["digitProbabilities"][k] for k in labels]), row, "mnist")
        assert result["digit"] == labels[int(np.argmax(row))]


@needs("torch")
def test_image_classifier_with_string_labels_and_preprocessing_matches_torch():
    spec = builders.image_classifier()
    model = runtime.Model.load(spec)
    rng = np.random.default_rng(4)
    photos = rng.integers(0, 256, (4, 20, 24, 3), dtype=np.uint8)  # RGB, at the model's size
    results = model.predict_batch([{"photo": Image.fromarray(p)} for p in photos])
    bgr = photos[..., ::-1].transpose(0, 3, 1, 2).astype(np.float64)
    preprocessed = bgr / 127.5 + np.float64([-0.6, -0.5, -0.4])[None, :, None, None]
    expected = reference_outputs(spec, {"photo": preprocessed}, ["scores"])["scores"]
    for result, row in zip(results, expected, strict=True):
        assert set(result) == {"scores", "animal"}
        assert isinstance(result["animal"], str)
        assert result["animal"] == ("cat", "dog", "bird")[int(np.argmax(row))]
        assert_close(np.float64(list(result["scores"].values())), row, "classifier")


def test_int64_labels_and_ties_pick_the_first_class():
    spec = builders.classifier_nn(labels=("a", "b"))
    classifier = spec.neuralNetworkClassifier
    classifier.ClearField("stringClassLabels")
    classifier.int64ClassLabels.vector.extend([10, 20])
    for output in spec.description.output:
        if output.name == "label":
            output.type.int64Type.SetInParent()
        else:
            output.type.dictionaryType.int64KeyType.SetInParent()
    for field in ("weights", "bias"):  # dense2 outputs equal logits: a tie
        values = getattr(classifier.layers[2].innerProduct, field).floatValue
        values[:] = [0.0] * len(values)
    result = runtime.Model.load(spec).predict({"image": np.ones(4)})
    assert result == {"probs": {10: 0.5, 20: 0.5}, "label": 10}


def test_wrong_label_count_and_undeclared_outputs_fail_at_load():
    spec = builders.classifier_nn(labels=("a", "b"))
    spec.neuralNetworkClassifier.stringClassLabels.vector.append("c")
    with pytest.raises(ShapeError, match="3 class labels but its probability blob 'probs' holds 2"):
        runtime.Model.load(spec)
    spec = builders.base_nn()
    spec.description.output[0].type.multiArrayType.shape[:] = [4]
    with pytest.raises(ShapeError, match=r"output 'output' is declared with shape \[4\]"):
        runtime.Model.load(spec)


def test_without_label_probability_layer_name_the_last_layer_holds_the_probabilities():
    spec = builders.classifier_nn(labels=("a", "b"))
    spec.neuralNetworkClassifier.labelProbabilityLayerName = ""
    x = np.float64([0.5, -1.0, 2.0, 0.1])
    assert runtime.Model.load(spec).predict({"image": x}) == runtime.Model.load(
        builders.classifier_nn(labels=("a", "b"))
    ).predict({"image": x})


def test_outputs_declared_without_a_shape_come_back_as_c_h_w():
    spec = builders.multi_input_nn(
        {"x": (2, 3, 4)}, lambda b: b.add_permute("p", (0, 2, 3, 1), "x", "out")
    )
    x = np.random.default_rng(9).standard_normal((2, 3, 4))
    out = runtime.Model.load(spec).predict({"x": x})["out"]
    assert out.shape == (3, 4, 2)  # [C, H, W] of the permuted blob
    np.testing.assert_allclose(out, x.transpose(1, 2, 0), rtol=1e-6)


def test_images_of_another_size_are_scaled_to_fill_by_default():
    model = runtime.Model.load(builders.mnist_convnet(image_input=True))
    digit = Image.fromarray(mnist_digits(1, seed=3)[0][0, 0].astype(np.uint8)).resize((56, 70))
    direct = model.predict({"image": digit.resize((28, 28), Image.Resampling.BILINEAR)})
    assert model.predict({"image": digit}) == direct
    cropped = model.predict({"image": runtime.ImageValue(digit, "centerCrop")})
    assert cropped != direct


@needs("torch")
def test_load_time_weights_replace_a_layers_initial_weights(tmp_path):
    spec = builders.classifier_nn(labels=("a", "b"))
    updatable.save(spec, tmp_path / "m.mlmodel")
    rng = np.random.default_rng(10)
    weights, biases = rng.standard_normal((2, 3)), rng.standard_normal(2)  # Core ML layout
    configuration = ModelConfiguration(
        parameters={
            ParameterKey.WEIGHTS.scoped("dense2"): weights,
            ParameterKey.BIASES.scoped("dense2"): biases,
        }
    )
    model = runtime.Model.load(tmp_path / "m.mlmodel", configuration)
    x = rng.standard_normal(4)
    hidden = reference_outputs(spec, {"image": x[None]}, ["h1_relu"])["h1_relu"][0]
    logits = weights @ hidden + biases
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    assert model.predict({"image": x})["probs"] == pytest.approx(
        dict(zip("ab", expected, strict=True)), rel=1e-5
    )
    bad = ModelConfiguration(parameters={ParameterKey.WEIGHTS.scoped("dense9"): weights})
    with pytest.raises(ParameterError, match="scoped to layer 'dense9', which the network"):
        runtime.Model.load(spec, bad)


def test_models_the_runtime_cannot_run_are_refused_at_load():
    spec = builders.classifier_nn()
    spec.neuralNetworkClassifier.arrayInputShapeMapping = 1  # EXACT: `image` is rank 1
    # innerProduct and activation run on rank 1; the rank-5 softmax needs rank 3 or more
    with pytest.raises(
        ShapeError, match=r"layer 'softmax' \(softmax\) reads 'logits' of shape \[2\]"
    ):
        runtime.Model.load(spec)
    spec = builders.classifier_nn()
    entry = spec.neuralNetworkClassifier.preprocessing.add(featureName="image")
    entry.scaler.channelScale = 2.0
    with pytest.raises(UnsupportedModelError, match="'image', which is not an image input"):
        runtime.Model.load(spec)
    expected = "Model.load: expected the path of a .mlmodel file, a Core ML Model message or a"
    with pytest.raises(TypeError, match=f"{expected} coremltools MLModel; got int"):
        runtime.Model.load(3)


# ---- graph mechanics ----------------------------------------------------------------------


def test_partial_runs_compose_to_the_full_run():
    network = compile_network(squeezenet_1_1(num_classes=10))
    x = np.random.default_rng(5).standard_normal((2, 227, 227, 3)).astype(np.float32)
    full = network.run({"data": x})
    cut = network.index_of("fire6_squeeze1x1")
    boundary = network.run({"data": x}, stop=cut)
    assert list(boundary) == ["pool6"]  # the pooling after fire5
    rest = network.run(boundary, start=cut)
    np.testing.assert_array_equal(rest["probs"], full["probs"])


def test_every_intermediate_blob_is_freed_once_after_its_last_reader():
    network = compile_network(squeezenet_1_1(num_classes=10))
    frees = network.free_plan(0, len(network.steps), tuple(network.outputs))
    freed = [name for names in frees for name in names]
    intermediate = {n for s in network.steps for n in s.outputs} | {"data"}
    assert sorted(freed) == sorted(intermediate - set(network.outputs))
    for index, names in enumerate(frees):
        for name in names:
            assert not any(name in s.inputs for s in network.steps[index + 1 :]), name


def test_unfused_and_fused_networks_agree():
    spec = builders.image_classifier(seed=2)
    x = np.random.default_rng(6).uniform(-1, 1, (3, 20, 24, 3)).astype(np.float32)
    fused, plain = compile_network(spec), compile_network(spec, fuse=False)
    assert len(plain.steps) == len(fused.steps) + 1 and "r1" in plain.shapes
    np.testing.assert_allclose(
        fused.run({"photo": x})["scores"], plain.run({"photo": x})["scores"], rtol=1e-6
    )
    with pytest.raises(FeatureError, match=r"blob 'c1' .* fused into layer 'c1'"):
        fused.run({"photo": x}, outputs=["c1"])


def test_a_model_output_between_layers_blocks_fusion():
    builder = NeuralNetworkBuilder(
        [("x", datatypes.Array(4))], [("pre", datatypes.Array(2)), ("post", datatypes.Array(2))]
    )
    builder.add_inner_product("ip", np.ones((2, 4)), None, 4, 2, False, "x", "pre")
    builder.add_activation("act", "RELU", "pre", "post")
    network = compile_network(builder.spec)
    assert [s.name for s in network.steps] == ["ip", "act"] and not network.fused
    result = runtime.Model.load(builder.spec).predict({"x": np.float64([1, -3, 0, 0])})
    np.testing.assert_allclose(result["pre"], [-2, -2])
    np.testing.assert_allclose(result["post"], [0, 0])


def test_forward_runs_without_numba_in_a_subprocess(tmp_path):
    spec = builders.image_classifier(seed=3)
    path = tmp_path / "animals.mlmodel"
    updatable.save(spec, path)
    photo = np.random.default_rng(7).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    np.save(tmp_path / "photo.npy", photo)
    in_process = runtime.Model.load(path).predict({"photo": photo})
    code = textwrap.dedent(f"""
        import json, numpy as np, runtime, numba
        assert numba.config.DISABLE_JIT
        model = runtime.Model.load({str(path)!r})
        result = model.predict({{"photo": np.load({str(tmp_path / "photo.npy")!r})}})
        print(json.dumps(result))
    """)
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    without_jit = json.loads(done.stdout)
    assert without_jit["animal"] == in_process["animal"]
    for label, value in in_process["scores"].items():
        assert without_jit["scores"][label] == pytest.approx(value, rel=1e-5)
