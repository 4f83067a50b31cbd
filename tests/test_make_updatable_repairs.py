"""`updatable make-updatable` on models people bring: repairs by default, `--no-repair`, the
messages for every blocker (in CLI option names), and the defects met on the way, each with a
test that failed before its fix. `updatable feature-extractor` cuts a classifier."""

from __future__ import annotations

import numpy as np
import pytest

import runtime
import updatable
from runtime.tools.equivalence import blob_shapes
from tests import builders
from tests.builders import converter_style, torch_zoo
from tests.builders._common import NeuralNetworkBuilder, datatypes
from tests.optional import needs
from updatable.cli import main
from updatable.errors import SurgeryError


def _run(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _saved(spec, path):
    updatable.save(spec, path)
    return path


# --- defects ------------------------------------------------------------------------------


def test_layers_replaces_the_layers_trained_before_and_says_so(tmp_path, capsys):
    """Before: `--layers dense_2` printed ['dense_2'] while conv2 and dense_1, made updatable
    earlier, still trained."""
    spec = builders.mnist_convnet(seed=4)
    updatable.make_updatable(spec, ["conv2", "dense_1"])
    source, out = _saved(spec, tmp_path / "in.mlmodel"), tmp_path / "out.mlmodel"
    code, printed, _ = _run(capsys, "make-updatable", source, "-o", out, "--layers", "dense_2")
    assert code == 0 and "updatable layers ['dense_2']" in printed
    saved = updatable.load(out)
    flagged = [layer.name for layer in saved.neuralNetworkClassifier.layers if layer.isUpdatable]
    assert flagged == ["dense_2"]
    assert updatable.updatable_layers(saved) == ["dense_2"]
    conv = next(x for x in saved.neuralNetworkClassifier.layers if x.name == "conv2")
    assert not conv.convolution.weights.isUpdatable


def test_missing_loss_input_and_shape_are_asked_for_by_option(tmp_path, capsys):
    """Before: "pass input=<blob name>" / "pass shape=(...)", Python argument names."""
    regressor = _saved(builders.regressor_nn(), tmp_path / "r.mlmodel")
    spec = builders.regressor_nn()
    spec.description.output[0].type.multiArrayType.ClearField("shape")
    shapeless = _saved(spec, tmp_path / "s.mlmodel")
    out = tmp_path / "out.mlmodel"
    code, _, err = _run(
        capsys,
        "make-updatable",
        regressor,
        "-o",
        out,
        "--layers",
        "fc2",
        "--loss",
        "mse",
        "--loss-input",
        "h",
    )
    assert code == 1 and "pass --loss-shape D,D,.." in err and "shape=" not in err
    code, _, err = _run(
        capsys, "make-updatable", shapeless, "-o", out, "--layers", "fc2", "--loss", "mse"
    )
    assert code == 1 and "pass --loss-input BLOB" in err and "input=" not in err
    assert not out.exists()


def _create_ml_image_classifier():
    """What Create ML writes for an image classifier: visionFeaturePrint (scene) -> GLM."""
    from tests.builders import classic

    labels = ["cat", "dog"]
    pipeline = updatable.proto.Model(specificationVersion=4)
    image = pipeline.description.input.add(name="image")
    image.type.imageType.width = image.type.imageType.height = 299
    image.type.imageType.colorSpace = updatable.proto.ImageFeatureType.BGR
    pipeline.description.output.add(name="classLabel").type.stringType.SetInParent()
    probabilities = pipeline.description.output.add(name="classLabelProbs")
    probabilities.type.dictionaryType.stringKeyType.SetInParent()
    pipeline.description.predictedFeatureName = "classLabel"
    pipeline.description.predictedProbabilitiesName = "classLabelProbs"
    extractor = pipeline.pipelineClassifier.pipeline.models.add(specificationVersion=4)
    extractor.description.input.add().CopyFrom(image)
    features = extractor.description.output.add(name="sceneprint")
    features.type.multiArrayType.shape.append(2048)
    features.type.multiArrayType.dataType = updatable.proto.ArrayFeatureType.DOUBLE
    extractor.visionFeaturePrint.scene.version = 1
    rng = np.random.default_rng(0)
    head = classic.glm_classifier(
        rng.normal(size=(2, 2048)),
        rng.normal(size=2),
        labels,
        inputs=[("sceneprint", datatypes.Array(2048))],
    )
    pipeline.pipelineClassifier.pipeline.models.add().CopyFrom(head)
    return pipeline


def test_a_glm_head_is_named_as_the_reason_with_the_way_out(tmp_path, capsys):
    """Before: "--layers is required when the model is not a classifier" for a classifier."""
    source, out = _saved(_create_ml_image_classifier(), tmp_path / "in.mlmodel"), tmp_path / "o"
    code, _, err = _run(capsys, "make-updatable", source, "-o", out)
    assert code == 1 and "--layers is required" not in err
    assert "glmClassifier head cannot be updatable" in err
    assert "updatable.make_knn_classifier" in err and "updatable.make_pipeline" in err
    assert "visionFeaturePrint in front is built into the OS" in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


@needs("torch", "coremltools")
def test_head_detection_on_a_softmax_nd_names_the_cause_and_the_fix():
    """Before: "expected innerProduct or convolution -> [activation/flatten] -> softmax"."""
    with pytest.raises(
        SurgeryError,
        match=r"the probabilities 'var_22' come from softmaxND "
        r"'22', and Core ML's cross-entropy needs a softmax layer \(rule C4\)\. "
        r"Rewrite it first: `updatable make-updatable` does by default",
    ):
        updatable.classifier_head(torch_zoo.converted("tabular_mlp", "iOS13"))


# --- repairs through the command ------------------------------------------------------------


def test_no_repair_refuses_and_writes_nothing(tmp_path, capsys):
    source = _saved(converter_style.tf2_image_classifier(), tmp_path / "tf2.mlmodel")
    out = tmp_path / "out.mlmodel"
    code, printed, err = _run(capsys, "make-updatable", source, "-o", out, "--no-repair")
    assert code == 1 and printed == "" and not out.exists()
    assert "Core ML cannot train this model as it is: it needs rewrote batchedMatmul" in err
    assert "Run without --no-repair" in err
    code, printed, _ = _run(capsys, "make-updatable", source, "-o", out)
    assert code == 0 and not printed.startswith("wrote")
    assert printed.count("repaired: ") == 4 and "outputs equal on 8 random inputs" in printed


@needs("torch", "coremltools")
def test_a_layer_core_ml_cannot_train_through_is_named_with_the_layers_to_train(tmp_path, capsys):
    """MobileNetV2: ReLU6 is `clip`, which Core ML cannot backpropagate through."""
    source = _saved(torch_zoo.converted("mobilenet_v2", "iOS14"), tmp_path / "m.mlmodel")
    out = tmp_path / "out.mlmodel"
    code, _, err = _run(
        capsys, "make-updatable", source, "-o", out, "--layers", "input.99,linear_0"
    )
    assert code == 1 and not out.exists()
    assert (
        "layer '291' (clip) lies between updatable layer 'input.99' and the loss, and Core "
        "ML cannot backpropagate through clip"
    ) in err
    assert "train only layers after it (--layers linear_0)" in err


@needs("torch", "coremltools")
def test_the_last_two_layers_of_a_vgg_conversion_train(tmp_path, capsys):
    """reshapeStatic -> flatten, so both dense layers (and the ReLU between) train."""
    source = _saved(torch_zoo.converted("vgg", "iOS13"), tmp_path / "vgg.mlmodel")
    out = tmp_path / "out.mlmodel"
    code, printed, _ = _run(
        capsys, "make-updatable", source, "-o", out, "--layers", "linear_0,linear_1"
    )
    assert code == 0 and "updatable layers ['linear_0', 'linear_1']" in printed
    assert [i for i in updatable.validate(updatable.load(out)) if i.severity == "error"] == []


def test_a_model_the_runtime_cannot_run_is_refused_with_the_way_out(tmp_path, capsys):
    """A custom layer (the app's own code): the repairs cannot be checked, so none is made."""
    rng = np.random.default_rng(0)
    builder = NeuralNetworkBuilder(
        [("x", datatypes.Array(1, 4))],
        [("probs", None)],
        mode="classifier",
        disable_rank5_shape_mapping=True,
    )
    builder.add_inner_product(
        "dense",
        W=rng.standard_normal((3, 4)),
        b=np.zeros(3),
        input_channels=4,
        output_channels=3,
        has_bias=True,
        input_name="x",
        output_name="z",
    )
    custom = builder.spec.neuralNetworkClassifier.layers.add(
        name="mystery", input=["z"], output=["z2"]
    )
    custom.custom.className = "MyLayer"
    builder.add_softmax_nd("softmax", "z2", "probs", axis=-1)
    builder.set_class_labels(["a", "b", "c"], prediction_blob="probs")
    source, out = _saved(builder.spec, tmp_path / "c.mlmodel"), tmp_path / "out.mlmodel"
    code, printed, err = _run(capsys, "make-updatable", source, "-o", out)
    assert code == 1 and printed == "" and not out.exists()
    assert (
        "cannot check the repairs this model needs: the runtime cannot run it (layer "
        "'mystery' (custom)" in err
    )
    assert "pass --no-repair to prepare it without them" in err


# --- feature extractor ----------------------------------------------------------------------


@needs("torch", "coremltools")
def test_feature_extractor_computes_the_blob_it_was_cut_at(tmp_path, capsys):
    spec = torch_zoo.converted("resnet", "iOS14")
    cut = updatable.feature_extractor(spec, "input", output="features")
    assert [f.name for f in cut.description.output] == ["features"]
    assert cut.WhichOneof("Type") == "neuralNetwork" and updatable.validate(cut) == []
    batch, _ = torch_zoo.real_batch("resnet", 4)
    examples = [torch_zoo.feeds("resnet", x) for x in batch]
    got = np.stack(
        [r["features"].ravel() for r in runtime.Model.compile(cut).predict_batch(examples)]
    )
    engine = runtime.Model.compile(spec).engine
    want = engine.network.run(
        engine.to_blobs({"image": np.stack([e["image"] for e in examples])}), outputs=["input"]
    )["input"]
    np.testing.assert_array_equal(got, np.asarray(want).reshape(len(batch), -1))

    source, out = _saved(spec, tmp_path / "r.mlmodel"), tmp_path / "features.mlmodel"
    code, printed, _ = _run(
        capsys, "feature-extractor", source, "-o", out, "--at", "linear_0", "--input-of"
    )
    assert code == 0 and "computing input [1, 32] from ['image']" in printed
    code, _, err = _run(capsys, "feature-extractor", source, "-o", tmp_path / "x", "--at", "no")
    assert code == 2 and "no blob or layer named 'no'" in err


def test_a_classifier_cut_at_its_features_feeds_a_knn_in_one_call():
    spec = builders.mnist_convnet(seed=4)
    cut = updatable.feature_extractor(spec, "dense_1", shapes=blob_shapes)  # a layer: its output
    assert updatable.validate(cut) == []
    assert list(cut.description.output[0].type.multiArrayType.shape) == [32]
    assert (
        cut.description.output[0].type.multiArrayType.dataType
        == updatable.proto.ArrayFeatureType.FLOAT32
    )
    name = cut.description.output[0].name
    knn = updatable.make_knn_classifier(32, "none", input_name=name)
    pipeline = updatable.make_pipeline(cut, knn)
    assert [i for i in updatable.validate(pipeline) if i.severity == "error"] == []
    x = np.random.default_rng(0).random((3, 1, 28, 28))
    features = runtime.Model.compile(cut).predict_batch({"image": x})
    assert np.asarray(features[0][name]).size == 32


def test_an_lstm_can_be_made_updatable_as_core_ml_5_allows_and_trains(tmp_path, capsys):
    from runtime.training.providers import ArrayBatchProvider
    from runtime.training.task import UpdateTask
    from tests.test_train_lstm import CLASSES, FEATURES, SEQ, lstm_classifier

    source, out = _saved(lstm_classifier(seed=3), tmp_path / "l.mlmodel"), tmp_path / "o.mlmodel"
    code, printed, err = _run(
        capsys,
        "make-updatable",
        source,
        "-o",
        out,
        "--layers",
        "lstm,head",
        "--loss-input",
        "probs",
        "--batch",
        "8",
    )
    assert code == 0 and "updatable layers ['lstm', 'head']" in printed
    assert "X3 warning" in err  # older Core ML validators refuse an updatable LSTM
    spec = updatable.load(out)
    lstm = next(x for x in spec.neuralNetwork.layers if x.name == "lstm").uniDirectionalLSTM
    assert lstm.weightParams.inputGateWeightMatrix.isUpdatable
    before = list(lstm.weightParams.inputGateWeightMatrix.floatValue)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, SEQ * FEATURES, 1, 1))
    target = rng.integers(0, CLASSES, (16, 1)).astype(np.int32)
    result = {}
    task = UpdateTask(
        spec,
        ArrayBatchProvider({"x": x, "probs_true": target}),
        completion_handler=lambda c: result.update(spec=c.model.spec()),
    )
    task.resume()
    task.wait()
    assert task.error is None, task.error
    trained = next(x for x in result["spec"].neuralNetwork.layers if x.name == "lstm")
    after = list(trained.uniDirectionalLSTM.weightParams.inputGateWeightMatrix.floatValue)
    assert not np.allclose(after, before)


def test_a_classifier_without_a_head_core_ml_trains_is_told_to_name_layers(tmp_path, capsys):
    rng = np.random.default_rng(0)
    builder = NeuralNetworkBuilder(
        [("x", datatypes.Array(4))], [("probs", None)], mode="classifier"
    )
    builder.add_inner_product(
        "dense",
        W=rng.standard_normal((3, 4)),
        b=np.zeros(3),
        input_channels=4,
        output_channels=3,
        has_bias=True,
        input_name="x",
        output_name="z",
    )
    builder.add_unary("abs", "z", "z_abs", mode="abs")
    builder.add_softmax("softmax", "z_abs", "probs")
    builder.set_class_labels(["a", "b", "c"], prediction_blob="probs")
    source, out = _saved(builder.spec, tmp_path / "c.mlmodel"), tmp_path / "o.mlmodel"
    code, _, err = _run(capsys, "make-updatable", source, "-o", out)
    assert code == 1 and not out.exists() and len(err.strip().splitlines()) == 1
    assert (
        "cannot find the classifier's head" in err
        and "name the layers to train with --layers" in err
    )
    code, _, err = _run(capsys, "make-updatable", source, "-o", out, "--layers", "dense")
    assert code == 1 and not out.exists()
    assert (
        "layer 'abs' (unary) lies between updatable layer 'dense' and the loss, and Core ML "
        "cannot backpropagate through unary (rule C17;"
    ) in err
    assert "no layer after it can be trained either" in err


@needs("torch", "coremltools")
def test_a_repaired_conversion_widens_for_new_classes(tmp_path, capsys):
    source = _saved(torch_zoo.converted("tabular_mlp", "iOS13"), tmp_path / "t.mlmodel")
    out = tmp_path / "out.mlmodel"
    code, printed, _ = _run(
        capsys, "make-updatable", source, "-o", out, "--expand-classes", "5", "--labels", "7,8"
    )
    assert code == 0 and "rewrote softmaxND" in printed
    spec = updatable.load(out)
    batch, _ = torch_zoo.real_batch("tabular_mlp", 3)
    results = runtime.Model.compile(spec).predict_batch(
        [torch_zoo.feeds("tabular_mlp", x) for x in batch]
    )
    assert sorted(results[0][spec.description.predictedProbabilitiesName]) == [0, 1, 2, 7, 8]


def test_json_documents_carry_the_repairs_and_the_cut(tmp_path, capsys):
    import json

    from tests.test_cli_json import assert_documented

    source = _saved(converter_style.tf2_image_classifier(), tmp_path / "tf2.mlmodel")
    code, printed, _ = _run(
        capsys, "make-updatable", source, "-o", tmp_path / "u.mlmodel", "--json"
    )
    document = json.loads(printed)
    assert code == 0 and len(document["repairs"]) == 4
    assert document["repairs"][0].startswith(
        "rewrote batchedMatmul 'dense/MatMul' as innerProduct 'dense/MatMul': outputs equal on"
    )
    assert_documented("make-updatable", document)
    code, printed, _ = _run(
        capsys, "feature-extractor", source, "-o", tmp_path / "f.mlmodel", "--at", "flat", "--json"
    )
    document = json.loads(printed)
    assert code == 0 and document["shape"] == [1, 1352] and document["written"]
    assert_documented("feature-extractor", document)
