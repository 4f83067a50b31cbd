"""``updatable train``, ``evaluate`` and ``predict``, run for real on models built by
coremltools' builders and real MNIST digits written as image folders, .npz and CSV files."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import runtime
import updatable
from runtime.tools.datasets import load_mnist
from runtime.tools.evaluation import evaluate, label_order
from tests import builders
from tests.optional import needs
from updatable import DoubleParam, IntParam
from updatable.cli import main
from updatable.errors import UnsupportedModelError
from updatable.spec import find_layer

LABELS = ("0", "1", "2")


def cli(*args, timeout=120):
    """Run `python -m updatable.cli ARGS`; return (exit code, stdout, stderr)."""
    result = subprocess.run(
        [sys.executable, "-m", "updatable.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return result.returncode, result.stdout, result.stderr


def image_classifier(epochs: int = 3):
    """coremltools' MNIST conv net (image input, labels 0..9), its dense layers made updatable:
    SGD lr 0.01 from [0, 0.5], batch 4 from {2, 4, 8}, epochs from [1, 200]."""
    spec = builders.mnist_convnet(image_input=True)
    updatable.make_updatable(spec, ["dense_1", "dense_2"])
    updatable.set_loss(spec, "cross_entropy")
    updatable.set_optimizer(
        spec,
        "sgd",
        learning_rate=DoubleParam(0.01, range=(0.0, 0.5)),
        mini_batch_size=IntParam(4, choices=(2, 4, 8)),
    )
    updatable.set_epochs(spec, IntParam(epochs, range=(1, 200)))
    updatable.set_shuffle(spec, True, seed=1)
    return spec


def write_folders(root, per_class: int, offset: int = 0):
    digits = load_mnist()
    for label in LABELS:
        folder = root / label
        folder.mkdir(parents=True)
        for i in digits.of_class(int(label))[offset : offset + per_class]:
            Image.fromarray(digits.images[i]).save(folder / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    paths = {
        "model": root / "Digits.mlmodel",
        "train": write_folders(root / "train", 4),
        "validation": write_folders(root / "validation", 3, offset=100),
        "vectors": root / "Vectors.mlmodel",
        "knn": root / "KNN.mlmodel",
        "plain": root / "Plain.mlmodel",
    }
    updatable.save(image_classifier(), paths["model"])
    updatable.save(builders.updatable_classifier(), paths["vectors"])
    updatable.save(
        builders.empty_knn(dims=4, default_label="none", number_of_neighbors=1), paths["knn"]
    )
    updatable.save(builders.mnist_convnet(image_input=True), paths["plain"])
    return paths


def weights(path, layer):
    found = find_layer(updatable.load(path), layer)
    return np.asarray(getattr(found, found.WhichOneof("layer")).weights.floatValue)


@pytest.mark.parametrize("verb", ["train", "evaluate", "predict", "demo"])
def test_verbs_have_help_with_examples_and_exit_codes(verb):
    code, out, err = cli(verb, "--help")
    assert code == 0 and err == ""
    assert f"usage: updatable {verb}" in out
    assert f"updatable {verb}" in out.split("examples:\n")[1]
    assert "exit codes:" in out


@needs("matplotlib")
def test_train_on_image_folders_writes_the_model_and_the_plot(files, tmp_path):
    out, plot = tmp_path / "Updated.mlmodel", tmp_path / "loss.png"
    code, stdout, stderr = cli(
        "train", files["model"], "--data", files["train"], "--out", out, "--plot", plot
    )
    assert code == 0, stderr
    assert "12 training examples" in stdout
    assert "learningRate 0.01, miniBatchSize 4" in stdout
    rows = [line.split() for line in stdout.splitlines() if line.strip()[:2] in ("1/", "2/", "3/")]
    assert [row[0] for row in rows] == ["1/3", "2/3", "3/3"]
    assert all(math.isfinite(float(row[1])) for row in rows)
    assert f"wrote {out}" in stdout
    assert not any(i.severity == "error" for i in updatable.validate(out))
    assert not np.array_equal(weights(out, "dense_2"), weights(files["model"], "dense_2"))
    assert np.array_equal(weights(out, "conv1"), weights(files["model"], "conv1"))  # frozen
    with Image.open(plot) as image:
        assert image.format == "PNG"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "{tmp}/nowhere"], "data {tmp}/nowhere does not exist"),
        (
            ["--data", "{bad}"],
            "label folder 'seven' in {bad}: label 'seven' is not one of the "
            "model's class labels ['0', '1', '2', '3'",
        ),
        (
            ["--data", "{train}", "--lr", "5"],
            "invalid value 5.0 for parameter 'learningRate': the model allows the range [0.0, 0.5]",
        ),
        (["--data", "{train}", "--batch", "3"], "allows one of {{2, 4, 8}}"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(files, tmp_path, args, message):
    bad = tmp_path / "bad"
    (bad / "seven").mkdir(parents=True)
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(bad / "seven" / "a.png")
    fill = {"tmp": tmp_path, "bad": bad, "train": files["train"]}
    out = tmp_path / "Out.mlmodel"
    code, _, stderr = cli("train", files["model"], *(a.format(**fill) for a in args), "--out", out)
    assert code == 2
    assert stderr.startswith("updatable train: error: ") and message.format(**fill) in stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
    assert not out.exists()


def test_a_plot_without_matplotlib_is_exit_3_before_any_training(
    files, tmp_path, monkeypatch, capsys
):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    out, plot = tmp_path / "Updated.mlmodel", tmp_path / "loss.png"
    argv = ["train", files["model"], "--data", files["train"], "--out", out, "--plot", plot]
    assert main([str(a) for a in argv]) == 3  # a missing package, not an invalid model
    captured = capsys.readouterr()
    assert captured.out == ""  # refused up front: no data read, no epoch trained
    assert captured.err.startswith("updatable train: error: --plot: plots need matplotlib")
    assert "pip install 'coreml-updatable[demo]'" in captured.err
    assert len(captured.err.strip().splitlines()) == 1
    assert not out.exists() and not plot.exists()


def test_a_corrupt_model_is_exit_2(files, tmp_path):
    corrupt = tmp_path / "Corrupt.mlmodel"
    corrupt.write_bytes(files["model"].read_bytes()[:200])
    code, _, stderr = cli("train", corrupt, "--data", files["train"])
    assert code == 2 and "not a readable Core ML model" in stderr
    assert len(stderr.strip().splitlines()) == 1


def test_model_and_option_problems(files, tmp_path, capsys):
    assert main(["train", str(files["plain"]), "--data", str(files["train"])]) == 1
    assert "is not updatable" in capsys.readouterr().err
    assert main(["train", str(files["model"]), "--data", str(files["train"]), "--resume"]) == 2
    assert "--resume needs --session DIR" in capsys.readouterr().err
    assert main(["train", str(files["knn"]), "--data", "x.csv", "--epochs", "3"]) == 2
    assert "--epochs does not apply to a k-nearest-neighbours model" in capsys.readouterr().err
    missing = tmp_path / "missing" / "o.mlmodel"
    assert (
        main(["train", str(files["model"]), "--data", str(files["train"]), "--out", str(missing)])
        == 2
    )
    assert f"directory {missing.parent} does not exist" in capsys.readouterr().err


def _wait_for_epoch_then_interrupt(args):
    process = subprocess.Popen(
        [sys.executable, "-m", "updatable.cli", "train", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a test runner started in the background ignores SIGINT, and children inherit that;
        # Python turns SIGINT into KeyboardInterrupt only if it starts with the default action
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.strip().startswith("1/"):
            process.send_signal(signal.SIGINT)
            break
    rest, err = process.communicate(timeout=120)
    return process.returncode, "".join(seen) + rest, err


def test_ctrl_c_cancels_an_update_task_and_writes_nothing(files, tmp_path):
    out = tmp_path / "Never.mlmodel"
    code, stdout, stderr = _wait_for_epoch_then_interrupt(
        [files["model"], "--data", files["train"], "--epochs", "200", "--batch", "2", "--out", out]
    )
    assert code == 130, stderr
    assert "cancelled after" in stdout and "nothing written" in stdout
    assert "Traceback" not in stderr
    assert not out.exists()


def test_ctrl_c_keeps_the_session_checkpoint_and_resume_continues(files, tmp_path, capsys):
    session, out = tmp_path / "session", tmp_path / "Resumed.mlmodel"
    code, stdout, stderr = _wait_for_epoch_then_interrupt(
        [
            files["model"],
            "--data",
            files["train"],
            "--epochs",
            "200",
            "--batch",
            "2",
            "--session",
            session,
        ]
    )
    assert code == 130, stderr
    assert "the session keeps epoch" in stdout and "--resume" in stdout
    kept = sorted(p.name for p in (session / "checkpoints").iterdir())
    assert kept and not any(name.startswith(".") for name in kept)
    last = int(kept[-1])
    code = main(
        [
            "train",
            str(files["model"]),
            "--data",
            str(files["train"]),
            "--session",
            str(session),
            "--resume",
            "--epochs",
            str(last + 2),
            "--out",
            str(out),
        ]
    )
    text = capsys.readouterr().out
    assert code == 0
    assert f"resuming {session} at epoch {last} of {last + 2}" in text
    assert f"{last + 2}/{last + 2}" in text and out.exists()


def test_a_resumed_session_ends_where_an_uninterrupted_one_does(files, tmp_path, capsys):
    base = [
        "train",
        str(files["model"]),
        "--data",
        str(files["train"]),
        "--validation",
        str(files["validation"]),
    ]
    straight, resumed = tmp_path / "Straight.mlmodel", tmp_path / "Resumed.mlmodel"
    assert (
        main([*base, "--session", str(tmp_path / "a"), "--epochs", "4", "--out", str(straight)])
        == 0
    )
    text = capsys.readouterr().out
    assert "val. loss" in text and "val. acc." in text and "4/4" in text
    assert (
        main([*base, "--session", str(tmp_path / "b"), "--epochs", "2", "--checkpoint-every", "1"])
        == 0
    )
    assert "checkpoint: epoch 1" in capsys.readouterr().out
    assert (
        main(
            [
                *base,
                "--session",
                str(tmp_path / "b"),
                "--resume",
                "--epochs",
                "4",
                "--out",
                str(resumed),
            ]
        )
        == 0
    )
    for layer in ("dense_1", "dense_2"):
        assert np.array_equal(weights(straight, layer), weights(resumed, layer)), layer
    assert main([*base, "--session", str(tmp_path / "b"), "--epochs", "4"]) == 2
    assert "already holds a training session: continue it with --resume" in capsys.readouterr().err


def test_npz_and_csv_data_train_a_vector_classifier(files, tmp_path, capsys):
    rng = np.random.default_rng(0)
    points = rng.standard_normal((24, 4))
    labels = np.where(points[:, 0] > 0, "cat", "dog")
    np.savez(tmp_path / "data.npz", image=points, label=labels)
    csv = tmp_path / "data.csv"
    lines = ["a,b,label,c,d"] + [
        f"{p[0]},{p[1]},{lab},{p[2]},{p[3]}" for p, lab in zip(points, labels, strict=True)
    ]
    csv.write_text("\n".join(lines) + "\n")
    for data in (tmp_path / "data.npz", csv):
        out = tmp_path / f"{data.suffix[1:]}.mlmodel"
        assert main(["train", str(files["vectors"]), "--data", str(data), "--out", str(out)]) == 0
        assert "24 training examples" in capsys.readouterr().out
        assert out.exists()
    # the CSV columns around the label are the input, in order: both files trained alike
    assert np.array_equal(
        weights(tmp_path / "npz.mlmodel", "dense2"), weights(tmp_path / "csv.mlmodel", "dense2")
    )
    bad = tmp_path / "bad.npz"
    np.savez(bad, pixels=points, label=labels)
    assert main(["train", str(files["vectors"]), "--data", str(bad)]) == 2
    assert "has no array named 'image'; it has ['label', 'pixels']" in capsys.readouterr().err


def test_knn_training_appends_the_examples_in_one_pass(files, tmp_path, capsys):
    points = np.eye(4)
    csv = tmp_path / "knn.csv"
    csv.write_text(
        "output,x0,x1,x2,x3\n"
        + "".join(f"{lab},{','.join(map(str, p))}\n" for lab, p in zip("abcd", points, strict=True))
    )
    out = tmp_path / "Taught.mlmodel"
    assert (
        main(
            [
                "train",
                str(files["knn"]),
                "--data",
                str(csv),
                "--validation",
                str(csv),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "added 4 examples to the kNN (a: 1, b: 1, c: 1, d: 1)" in text
    assert "validation accuracy 100.0% on 4 examples" in text
    model = runtime.Model.load(out)
    assert [model.predict({"input": p})["output"] for p in points] == list("abcd")


def test_a_feature_extractor_and_knn_pipeline_learns_from_image_folders(files, tmp_path, capsys):
    pipeline = tmp_path / "Drawings.mlmodel"
    updatable.save(builders.tiny_drawing_pipeline(), pipeline)
    out = tmp_path / "Taught.mlmodel"
    assert main(["train", str(pipeline), "--data", str(files["train"]), "--out", str(out)]) == 0
    assert "added 12 examples to the kNN (0: 4, 1: 4, 2: 4)" in capsys.readouterr().out
    taught = updatable.load(out)
    knn = taught.pipelineClassifier.pipeline.models[1].kNearestNeighborsClassifier
    assert len(knn.nearestNeighborsIndex.floatSamples) == 12
    # a training drawing is its own nearest neighbour (inverse-distance weights)
    sample = next((files["train"] / "2").iterdir())
    assert runtime.Model.load(out).predict({"drawing": sample})["label"] == "2"


def test_evaluate_reports_what_the_model_predicts(files, tmp_path):
    code, stdout, stderr = cli("evaluate", files["model"], "--data", files["validation"], "--json")
    assert code == 0, stderr
    document = json.loads(stdout)
    model = runtime.Model.load(files["model"])
    truth, predicted, losses = [], [], []
    for label in LABELS:
        for path in sorted((files["validation"] / label).iterdir()):
            output = model.predict({"image": path})
            truth.append(label)
            predicted.append(output["digit"])
            losses.append(-math.log(max(output["digitProbabilities"][label], 1e-7)))
    assert document["examples"] == 9
    assert document["accuracy"] == pytest.approx(np.mean(np.array(truth) == predicted))
    assert document["loss"] == pytest.approx(np.mean(losses), rel=1e-5)
    classes = document["classes"]
    confusion = np.zeros((len(classes), len(classes)), int)
    for t, p in zip(truth, predicted, strict=True):
        confusion[classes.index(t), classes.index(p)] += 1
    assert document["confusion"] == confusion.tolist()
    code, stdout, _ = cli("evaluate", files["model"], "--data", files["validation"])
    assert code == 0 and "accuracy" in stdout and "confusion matrix" in stdout
    assert stdout.splitlines()[0].startswith(f"{files['model']} on 9 examples")


def test_predict_prints_labels_and_top_probabilities(files):
    images = sorted((files["validation"] / "1").iterdir())[:2]
    code, stdout, stderr = cli("predict", files["model"], *images, "--json", "--top", "4")
    assert code == 0, stderr
    results = json.loads(stdout)
    model = runtime.Model.load(files["model"])
    for path, result in zip(images, results, strict=True):
        output = model.predict({"image": path})
        assert result["label"] == output["digit"]
        top = [t["probability"] for t in result["top"]]
        assert len(top) == 4 and top == sorted(top, reverse=True)
        assert top[0] == pytest.approx(max(output["digitProbabilities"].values()))
    code, stdout, _ = cli("predict", files["model"], images[0])
    assert code == 0 and stdout.startswith(f"{images[0]}: {results[0]['label']} (")
    code, _, stderr = cli("predict", files["model"], "nowhere.png")
    assert code == 2 and "input nowhere.png does not exist" in stderr


def test_label_order_and_evaluate_need_a_classifier():
    assert label_order(["10", "9", "b", "a", "-1"]) == ("-1", "9", "10", "a", "b")
    extractor = builders.embedding_extractor()
    with pytest.raises(UnsupportedModelError, match="evaluate needs a classifier"):
        evaluate(runtime.Model.load(extractor), [], [])
