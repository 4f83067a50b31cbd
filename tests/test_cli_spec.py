"""The `updatable` command's spec verbs (inspect, validate, make-updatable), run for real."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import updatable
from tests import builders
from updatable.cli import VERBS, main

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, cwd=None):
    """Run `python -m updatable.cli ARGS`; return (exit code, stdout, stderr)."""
    result = subprocess.run(
        [sys.executable, "-m", "updatable.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
    )
    return result.returncode, result.stdout, result.stderr


@pytest.fixture
def models(tmp_path):
    paths = {
        "classifier": tmp_path / "Classifier.mlmodel",
        "blocked": tmp_path / "Blocked.mlmodel",
        "knn": tmp_path / "KNN.mlmodel",
        "regressor": tmp_path / "Regressor.mlmodel",
    }
    updatable.save(builders.classifier_nn(labels=("cat", "dog", "bird")), paths["classifier"])
    updatable.save(builders.blocked_classifier(), paths["blocked"])
    updatable.save(builders.empty_knn(), paths["knn"])
    updatable.save(builders.regressor_nn(), paths["regressor"])
    return paths


@pytest.mark.parametrize("verb", ["inspect", "validate", "make-updatable"])
def test_spec_verbs_have_help_with_examples_and_exit_codes(verb):
    code, out, err = cli(verb, "--help")
    assert code == 0 and err == ""
    assert f"usage: updatable {verb}" in out
    assert f"updatable {verb} " in out.split("examples:\n")[1]
    assert "exit codes:" in out and "2    usage error" in out
    assert "3    an optional package this command needs is not installed" in out


def test_every_registered_verb_answers_help():
    for verb in VERBS:
        code, out, err = cli(verb, "--help")
        assert code == 0 and f"usage: updatable {verb}" in out, (verb, err)


def test_top_level_help_lists_the_verbs_and_no_verb_is_a_usage_error():
    code, out, _ = cli("--help")
    assert code == 0 and all(verb in out for verb in VERBS)
    code, out, err = cli()
    assert code == 2 and "usage: updatable" in err
    code, _, err = cli("train-everything")
    assert code == 2 and "invalid choice: 'train-everything'" in err


def test_make_updatable_writes_a_valid_model(models, tmp_path):
    out = tmp_path / "Updatable.mlmodel"
    code, stdout, stderr = cli(
        "make-updatable", models["classifier"], "-o", out, "--layers", "dense1,dense2",
        "--optimizer", "sgd", "--lr", "0.001", "--lr-range", "0,0.1",
        "--batch", "8", "--batch-allowed", "1,2,8,16", "--epochs", "10",
        "--epochs-allowed", "1,10,50", "--momentum", "0.9", "--seed", "-3",
    )  # fmt: skip
    assert code == 0, stderr
    assert stdout.startswith(f"wrote {out}: updatable layers ['dense1', 'dense2']")
    spec = updatable.load(out)
    assert [i for i in updatable.validate(spec) if i.severity == "error"] == []
    update = spec.neuralNetworkClassifier.updateParams
    sgd = update.optimizer.sgdOptimizer
    assert sgd.learningRate.defaultValue == 0.001 and sgd.learningRate.range.maxValue == 0.1
    assert (
        list(sgd.miniBatchSize.set.values) == [1, 2, 8, 16] and sgd.miniBatchSize.defaultValue == 8
    )
    assert sgd.momentum.defaultValue == 0.9
    assert list(update.epochs.set.values) == [1, 10, 50] and update.epochs.defaultValue == 10
    assert update.shuffle.defaultValue is True and update.seed.defaultValue == -3
    assert [f.name for f in spec.description.trainingInput] == ["image", "label"]


def test_make_updatable_expands_and_reinitialises_like_the_library(models, tmp_path):
    out = tmp_path / "Personal.mlmodel"
    code, _, stderr = cli(
        "make-updatable", models["classifier"], "-o", out, "--expand-classes", "10",
        "--reinit", "dense2", "--reinit-seed", "5", "--optimizer", "adam", "--lr", "0.001",
        "--no-shuffle", "--epochs", "4",
    )  # fmt: skip
    assert code == 0, stderr
    expected = updatable.load(models["classifier"])
    updatable.expand_classifier(expected, "dense2", 10)
    updatable.reinitialize(expected, "dense2", seed=5)
    updatable.make_updatable(expected, ["dense2"])
    updatable.set_loss(expected, "cross_entropy")
    updatable.set_optimizer(expected, "adam", learning_rate=0.001)
    updatable.set_epochs(expected, 4)
    updatable.set_shuffle(expected, False)
    assert updatable.load(out) == expected


def test_make_updatable_mse_on_a_regressor(models, tmp_path):
    out = tmp_path / "Out.mlmodel"
    code, _, stderr = cli(
        "make-updatable", models["regressor"], "-o", out, "--layers", "fc2", "--loss", "mse",
        "--batch", "4", "--batch-range", "1,32", "--epochs", "3", "--epochs-range", "1,100",
    )  # fmt: skip
    assert code == 0, stderr
    spec = updatable.load(out)
    update = spec.neuralNetworkRegressor.updateParams
    assert update.lossLayers[0].meanSquaredErrorLossLayer.input == "y"
    assert update.optimizer.sgdOptimizer.miniBatchSize.range.maxValue == 32
    assert update.epochs.range.maxValue == 100
    code, _, stderr = cli("make-updatable", models["regressor"], "-o", tmp_path / "x.mlmodel")
    assert code == 2
    assert "--layers is required when the model is not a classifier" in stderr


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["--layers", "dense9"], 2, "no layer named 'dense9'; the network's layers are: "),
        (["--layers", "relu1"], 1, "layer 'relu1' has kind 'activation'"),
        (["--lr", "5"], 2, "'learningRate' = 5 lies outside the default allowed range [1e-06, 1]"),
        (["--batch", "3", "--batch-allowed", "4,8"], 2, "default 3 is not among"),
        (["--optimizer", "adam", "--momentum", "0.9"], 2, "--momentum applies to --optimizer sgd"),
        (["--labels", "a,b"], 2, "--labels names the new classes of --expand-classes N"),
        (["--expand-classes", "2"], 2, "num_classes must be larger than the current 3"),
        (["--loss", "mse"], 1, "cannot choose the loss input"),
        (["--batch-allowed", "1,x"], 2, "expected integers separated by commas"),
        (["--batch-allowed", "1,2", "--batch-range", "1,4"], 2, "not allowed with argument"),
    ],
)
def test_bad_input_is_one_clear_line_and_writes_nothing(models, tmp_path, args, code, message):
    out = tmp_path / "Out.mlmodel"
    returned, stdout, stderr = cli("make-updatable", models["classifier"], "-o", out, *args)
    assert returned == code, stderr
    assert message in stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) <= 2
    assert not out.exists() and stdout == ""


def test_an_invalid_result_is_refused_and_an_existing_file_is_kept(models, tmp_path):
    out = tmp_path / "Out.mlmodel"
    out.write_bytes(b"previous contents")
    code, stdout, stderr = cli("make-updatable", models["blocked"], "-o", out, "--layers", "dense1")
    assert code == 1 and stdout == ""
    assert "C17 error " in stderr
    assert (
        "There is a layer (abs), which does not support backpropagation, between an updatable "
        "marked layer and the loss function." in stderr
    )
    assert f"nothing was written to {out}" in stderr
    assert out.read_bytes() == b"previous contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "Blocked.mlmodel", "Classifier.mlmodel", "KNN.mlmodel", "Out.mlmodel", "Regressor.mlmodel",
    ]  # fmt: skip


def test_validate_exit_codes_and_line_format(models, tmp_path):
    code, out, err = cli("validate", models["knn"])
    assert code == 0 and err == ""
    assert out.strip() == f"{models['knn']}: valid (0 error(s), 0 warning(s))"
    broken = builders.empty_knn()
    broken.specificationVersion = 3
    path = tmp_path / "Old.mlmodel"
    updatable.save(broken, path)
    code, out, _ = cli("validate", path)
    assert code == 1
    issue = updatable.validate(broken)[0]
    assert out.splitlines()[0] == f"G4 error {issue.where}: {issue.message}"
    assert issue.message == (
        "Model specification version for an updatable model must be '4' or above."
    )
    code, out, _ = cli("validate", path, "--json")
    document = json.loads(out)
    assert code == 1 and document["valid"] is False
    assert document["issues"][0]["code"] == "G4"
    assert document["issues"][0]["result_type"] == "INVALID_COMPATIBILITY_VERSION"


@pytest.mark.parametrize("verb", ["validate", "inspect", "make-updatable"])
def test_unreadable_files_exit_2(tmp_path, verb):
    bad = tmp_path / "bad.mlmodel"
    bad.write_bytes(b"\xff\xff\xff\xff")
    extra = ["-o", tmp_path / "out.mlmodel"] if verb == "make-updatable" else []
    code, _, err = cli(verb, bad, *extra)
    assert code == 2
    assert err.startswith(f"updatable {verb}: error: {bad}: not a readable Core ML model")
    code, _, err = cli(verb, tmp_path / "missing.mlmodel", *extra)
    assert code == 2 and "no such file" in err


def test_debug_shows_the_traceback(tmp_path):
    code, _, err = cli("--debug", "inspect", tmp_path / "missing.mlmodel")
    assert code == 2 and "Traceback" in err
    code, _, err = cli("inspect", tmp_path / "missing.mlmodel", "--debug")
    assert code == 2 and "Traceback" in err


def test_inspect_text_and_json(models, tmp_path):
    out = tmp_path / "U.mlmodel"
    assert cli("make-updatable", models["classifier"], "-o", out, "--layers", "dense2")[0] == 0
    code, text, _ = cli("inspect", out)
    assert code == 0
    assert "neuralNetworkClassifier, version 4, updatable" in text
    assert "U dense2           innerProduct (3 -> 3)" in text
    assert "[weights [3, 3] float32 U; bias [3] float32 U]" in text
    assert "    dense1 " in text  # not updatable: no U
    assert "miniBatchSize  10 (allowed: 10)" in text
    assert "learningRate   0.01 (range [1e-06, 1])" in text
    assert "class labels: 3 String (cat, dog, bird)" in text
    code, raw, _ = cli("inspect", out, "--json")
    summary = json.loads(raw)
    assert summary["isUpdatable"] and summary["specificationVersion"] == 4
    layers = {layer["name"]: layer for layer in summary["layers"]}
    assert layers["dense2"]["updatable"] and not layers["dense1"]["updatable"]
    assert layers["dense2"]["weights"]["weights"]["shape"] == [3, 3]
    training = summary["training"]
    assert training["optimizer"]["miniBatchSize"] == {"default": 10, "set": [10]}
    assert training["losses"][0]["target"] == "probs_true"
    assert [f["name"] for f in summary["trainingInputs"]] == ["image", "label"]


def test_inspect_knn_and_pipelines(models, tmp_path):
    code, text, _ = cli("inspect", models["knn"])
    assert code == 0 and "kNN: 4 dimensions, 0 samples" in text
    assert "numberOfNeighbors 5 (range [1, 1000])" in text
    pipeline = updatable.make_pipeline(
        updatable.make_linked_model(builders.drawing_embedding(), "Embedding.mlmodelc"),
        updatable.make_knn_classifier(128, "unknown", samples=[[0.5] * 128], labels=["cat"]),
    )
    path = tmp_path / "Pipeline.mlmodel"
    updatable.save(pipeline, path)
    code, text, _ = cli("inspect", path)
    assert code == 0
    assert "models[0]: linkedModel, version 4, not updatable" in text
    assert "links to: Embedding.mlmodelc (search path '.:$BUNDLE_MAIN')" in text
    assert "kNN: 128 dimensions, 1 samples (cat: 1)" in text
    summary = json.loads(cli("inspect", path, "--json")[1])
    assert summary["models"][1]["knn"]["labelCounts"] == {"cat": 1}


def test_main_in_process_returns_exit_codes(models, capsys):
    assert main(["validate", str(models["knn"])]) == 0
    assert main(["validate", "model.mlmodel", "--bogus"]) == 2
    assert capsys.readouterr().err == (
        "updatable: error: unrecognized arguments: --bogus (see 'updatable --help')\n"
    )


def test_console_script_is_installed():
    script = Path(sys.executable).with_name("updatable")
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("updatable ")


def run_script(script, *args):
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / script), *map(str, args)],
        capture_output=True,
        text=True,
    )


def assert_all_valid(directory, names):
    assert sorted(p.name for p in directory.iterdir()) == sorted(names)
    for name in names:
        spec = updatable.load(directory / name)
        assert [i for i in updatable.validate(spec) if i.severity == "error"] == [], name


def test_make_nn_script_widens_and_brainwashes_a_given_classifier(tmp_path):
    source = tmp_path / "in" / "Classifier.mlmodel"
    source.parent.mkdir()
    updatable.save(builders.classifier_nn(labels=("cat", "dog", "bird")), source)
    out = tmp_path / "out"
    result = run_script("make_nn.py", "--model", source, "--out", out)
    assert result.returncode == 0, result.stderr
    assert_all_valid(out, ["Brainwashed.mlmodel", "PretrainedHead.mlmodel"])
    pretrained = updatable.load(out / "PretrainedHead.mlmodel")
    brainwashed = updatable.load(out / "Brainwashed.mlmodel")
    labels = pretrained.neuralNetworkClassifier.stringClassLabels.vector
    assert list(labels) == ["cat", "dog", "bird"] + [f"user{i}" for i in range(7)]
    head = pretrained.neuralNetworkClassifier.layers[2].innerProduct
    original = builders.classifier_nn(labels=("cat", "dog", "bird")).neuralNetworkClassifier
    assert list(head.weights.floatValue)[:9] == list(
        original.layers[2].innerProduct.weights.floatValue
    )
    assert list(head.weights.floatValue)[9:] == [0.0] * 21  # new rows start at zero
    washed = brainwashed.neuralNetworkClassifier.layers[2].innerProduct
    assert washed.weights != head.weights and washed.weights.isUpdatable
    sgd = pretrained.neuralNetworkClassifier.updateParams.optimizer.sgdOptimizer
    assert (sgd.learningRate.defaultValue, list(sgd.miniBatchSize.set.values)) == (
        0.001,
        [1, 2, 8, 16],
    )
    assert list(pretrained.neuralNetworkClassifier.updateParams.epochs.set.values) == [1, 10, 50]


def test_make_knn_script_with_a_given_extractor_and_linked_variant(tmp_path):
    source = tmp_path / "Embedding.mlmodel"
    updatable.save(builders.drawing_embedding(), source)
    out = tmp_path / "out"
    result = run_script("make_knn.py", "--model", source, "--out", out, "--linked", "--k", "5")
    assert result.returncode == 0, result.stderr
    assert_all_valid(out, ["DrawingEmbedding.mlmodel", "UpdatableDrawingClassifier.mlmodel",
                           "UpdatableDrawingClassifierLinked.mlmodel"])  # fmt: skip
    pipeline = updatable.load(out / "UpdatableDrawingClassifier.mlmodel")
    knn = pipeline.pipelineClassifier.pipeline.models[1].kNearestNeighborsClassifier
    assert knn.numberOfNeighbors.defaultValue == 5 and knn.numberOfNeighbors.range.maxValue == 10
    assert not knn.nearestNeighborsIndex.floatSamples
    result = run_script("make_knn.py", "--model", source, "--out", out, "--k", "20")
    assert result.returncode == 1
    assert "default 20 lies outside the allowed range [1, 10]" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "script, written",
    [
        ("make_nn.py", ["Brainwashed.mlmodel", "PretrainedHead.mlmodel"]),
        ("make_knn.py", ["DrawingEmbedding.mlmodel", "UpdatableDrawingClassifier.mlmodel",
                         "UpdatableDrawingClassifierLinked.mlmodel"]),
    ],
)  # fmt: skip
def test_example_scripts_build_their_own_input_model(tmp_path, script, written):
    extra = ["--linked"] if script == "make_knn.py" else []
    result = run_script(script, "--out", tmp_path, *extra)
    assert result.returncode == 0, result.stderr
    assert_all_valid(tmp_path, written)
