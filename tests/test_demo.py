"""``updatable demo`` and its parts: the base network, the split and the simulated user, the
surgery, and the whole story in its reduced mode, checked on what it measures and writes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import runtime
import updatable
from runtime.demo import DemoOptions, base, run_demo, surgery, user
from runtime.demo.events import AccuracyTable, EpochEnd, Note, Step, TrainingStarted, Validation
from runtime.tools.datasets import Digits, load_digits
from tests import builders
from tests.optional import installed, needs
from tests.torch_coreml import TorchNetwork
from updatable.errors import ParameterError
from updatable.spec import find_layer

NEW = ("7", "8", "9")


def _weights(spec) -> dict:
    """``{layer: (W, b)}`` of a base network, in Core ML layout."""
    arrays = {}
    for name, cin, cout in (("conv1", 1, 8), ("conv2", 8, 16)):
        conv = find_layer(spec, name).convolution
        arrays[name] = (
            np.reshape(conv.weights.floatValue, (cout, cin, 3, 3)),
            np.asarray(conv.bias.floatValue),
        )
    for name in ("dense1", "dense2"):
        dense = find_layer(spec, name).innerProduct
        arrays[name] = (
            np.reshape(dense.weights.floatValue, (dense.outputChannels, -1)),
            np.asarray(dense.bias.floatValue),
        )
    return arrays


@pytest.fixture(scope="module")
def digits() -> Digits:
    return load_digits()


@pytest.fixture(scope="module")
def trained_base(digits):
    parts = user.split(digits, user.QUICK_SIZES)
    spec, outcome, accuracy = base.train_base(
        digits.images[parts.base_train],
        digits.labels[parts.base_train],
        digits.images[parts.base_validation],
        digits.labels[parts.base_validation],
        epochs=1,
        source=digits.source,
        seed=0,
        emit=lambda event: None,
    )
    return spec, outcome, accuracy


@needs("torch")
def test_base_network_is_the_network_coremltools_builds(digits):
    ours = base.build_base(seed=3)
    # non-zero biases make the comparison see them too
    for layer in ours.neuralNetworkClassifier.layers:
        kind = layer.WhichOneof("layer")
        if kind in ("convolution", "innerProduct"):
            bias = getattr(layer, kind).bias
            bias.floatValue[:] = np.linspace(-0.1, 0.1, len(bias.floatValue)).tolist()
    theirs = builders.digit_convnet(_weights(ours))
    assert [i for i in updatable.validate(ours) if i.severity == "error"] == []

    def kinds(spec):
        return [
            (layer.name, layer.WhichOneof("layer")) for layer in spec.neuralNetworkClassifier.layers
        ]

    assert kinds(ours) == kinds(theirs)
    images = digits.images[:16]
    examples = [{"image": image} for image in images]
    ours_out = runtime.Model.load(ours).predict_batch(examples)
    theirs_out = runtime.Model.load(theirs).predict_batch(examples)
    for a, b in zip(ours_out, theirs_out, strict=True):
        assert a["label"] == b["label"]
        np.testing.assert_allclose(
            list(a["labelProbabilities"].values()),
            list(b["labelProbabilities"].values()),
            rtol=1e-5,
            atol=1e-7,
        )
    # and an independent reading: torch on the spec, inputs scaled by the preprocessing
    blobs = TorchNetwork(ours).forward({"image": images[:, None].astype(np.float64) / 255.0})
    expected = blobs["labelProbabilities"].detach().numpy().reshape(16, -1)
    got = np.array([list(o["labelProbabilities"].values()) for o in ours_out])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


def test_trained_base_is_a_plain_valid_classifier_with_its_recipe(trained_base):
    spec, outcome, accuracy = trained_base
    assert not spec.isUpdatable and not spec.description.trainingInput
    assert not spec.neuralNetworkClassifier.HasField("updateParams")
    assert not any(layer.isUpdatable for layer in spec.neuralNetworkClassifier.layers)
    assert updatable.validate(spec) == []
    assert base.recipe_of(spec).startswith(base.ARCHITECTURE)
    assert accuracy > 0.8  # one epoch of clean digits 0..6
    assert outcome.hyperparameters["epochs"] == 1 and len(outcome.epoch_losses) == 1
    assert len(outcome.batch_losses) == -(
        -len(user.split(load_digits(), user.QUICK_SIZES).base_train) // 32
    )


def test_split_is_disjoint_balanced_and_reproducible(digits):
    sizes = user.SplitSizes(held_out=10, user_new=5, user_known=3, base_validation=4, base_train=20)
    parts = user.split(digits, sizes, seed=1)
    everything = np.concatenate(
        [parts.base_train, parts.base_validation, parts.user, parts.held_out]
    )
    assert len(set(everything.tolist())) == len(everything)
    assert np.bincount(digits.labels[parts.held_out]).tolist() == [10] * 10
    assert np.bincount(digits.labels[parts.user]).tolist() == [3] * 7 + [5] * 3
    assert set(digits.labels[parts.base_train]) == set(range(7))
    assert len(parts.base_train) == 7 * 20 and len(parts.base_validation) == 7 * 4
    again = user.split(digits, sizes, seed=1)
    assert np.array_equal(again.user, parts.user)
    assert not np.array_equal(user.split(digits, sizes, seed=2).user, parts.user)


def test_split_refuses_too_few_examples():
    tiny = Digits(np.zeros((20, 28, 28), np.uint8), np.repeat(np.arange(10), 2), "tiny")
    with pytest.raises(ParameterError, match="digit 0 has 2 examples in tiny"):
        user.split(tiny)


def test_user_style_thickens_and_slants():
    bar = np.zeros((1, 28, 28), np.uint8)
    bar[0, 4:24, 13:15] = 255  # a vertical stroke
    thick = user.UserStyle(thickness=1, rotation=0, jitter=0).apply(bar, np.random.default_rng())
    assert (thick > 0).sum() > (bar > 0).sum() * 1.5
    turned = user.UserStyle(thickness=0, rotation=90, jitter=0).apply(bar, np.random.default_rng())
    rows, cols = np.nonzero(turned[0] > 128)
    assert np.ptp(cols) > 15 and np.ptp(rows) <= 3  # now horizontal
    a = user.UserStyle().apply(bar, np.random.default_rng(4))
    assert np.array_equal(a, user.UserStyle().apply(bar, np.random.default_rng(4)))


def test_personalizable_classifier_is_valid_and_keeps_the_base_predictions(trained_base, digits):
    spec, _, _ = trained_base
    classifier = surgery.personalizable_classifier(spec, NEW, "sgd", epochs=12)
    assert updatable.validate(classifier) == []  # no error, and no lint warning either
    nn = classifier.neuralNetworkClassifier
    assert list(nn.stringClassLabels.vector) == [str(d) for d in range(10)]
    assert [layer.name for layer in nn.layers if layer.isUpdatable] == ["dense1", "dense2"]
    sgd = nn.updateParams.optimizer.sgdOptimizer
    assert sgd.learningRate.defaultValue == 0.05 and sgd.learningRate.range.maxValue == 0.5
    assert list(sgd.miniBatchSize.set.values) == [1, 2, 4, 8, 16, 32]
    assert nn.updateParams.epochs.defaultValue == 12
    adam = surgery.personalizable_classifier(spec, NEW, "adam").neuralNetworkClassifier
    assert adam.updateParams.optimizer.WhichOneof("OptimizerType") == "adamOptimizer"
    # new classes start at logit 0: every base prediction among 0..6 is unchanged
    examples = [{"image": image} for image in digits.images[:30]]
    before = runtime.Model.load(spec).predict_batch(examples)
    after = runtime.Model.load(classifier).predict_batch(examples)
    kept = [
        a["label"] == b["label"]
        for a, b in zip(before, after, strict=True)
        if b["label"] not in NEW
    ]
    assert kept and all(kept)


@needs("torch")
def test_knn_pipeline_embeds_with_the_base_networks_penultimate_layer(trained_base, digits):
    spec, _, _ = trained_base
    extractor = surgery.feature_extractor(spec)
    images = digits.images[:8]
    got = runtime.Model.load(extractor).predict_batch([{"image": i} for i in images])
    blobs = TorchNetwork(spec).forward({"image": images[:, None].astype(np.float64) / 255.0})
    expected = blobs["embedding"].detach().numpy().reshape(8, -1)
    np.testing.assert_allclose(
        np.stack([o["embedding"] for o in got]), expected, rtol=1e-4, atol=1e-5
    )
    pipeline = surgery.knn_pipeline(spec)
    assert updatable.validate(pipeline) == [] and pipeline.isUpdatable
    knn = pipeline.pipelineClassifier.pipeline.models[1].kNearestNeighborsClassifier
    assert knn.numberOfNeighbors.defaultValue == 3 and knn.numberOfNeighbors.range.maxValue == 10
    assert knn.nearestNeighborsIndex.numberOfDimensions == base.HIDDEN
    assert runtime.Model.load(pipeline).predict({"image": images[0]})["label"] == "unknown"


def test_unknown_optimizer_is_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "never"
    with pytest.raises(ParameterError, match=r"unknown optimizer 'rmsprop'; choose one of"):
        run_demo(DemoOptions(out=out, quick=True, optimizer="rmsprop"))
    assert not out.exists()


# -- the whole story, reduced: once through the command line, once through the API ----------
@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    result = subprocess.run(
        [sys.executable, "-m", "updatable.cli", "demo", "--quick", "-o", str(out), "--json"],
        capture_output=True,
        text=True,
    )
    return out, result


def test_demo_command_tells_the_story_and_writes_its_files(cli_run):
    out, result = cli_run
    assert result.returncode == 0, result.stderr
    text = result.stderr  # --json: the story on stderr, the JSON document alone on stdout
    for number, title in enumerate(
        (
            "The data",
            "The app's model",
            "Surgery",
            "Update 1: fine-tune the network head",
            "Update 2: teach the kNN",
            "Results",
        ),
        start=1,
    ):
        assert f"== {number}/6  {title}" in text  # not a terminal: plain text
    assert "updatable.validate(PersonalizableClassifier.mlmodel): valid" in text
    assert "updatable.validate(PersonalizableKNN.mlmodel): valid" in text
    assert "20/20" in text and "new digits" in text and "Done in" in text
    for name in (
        "MNISTBase.mlmodel",
        "PersonalizableClassifier.mlmodel",
        "PersonalizableKNN.mlmodel",
        "UpdatedClassifier.mlmodel",
        "UpdatedKNN.mlmodel",
        "report.md",
    ):
        assert (out / name).is_file(), name
        assert str(out / name) in text
    document = json.loads(result.stdout)
    assert document["out"] == str(out) and document["seconds"] > 0
    assert document["files"]["updated_knn"] == str(out / "UpdatedKNN.mlmodel")
    assert all(0 <= v <= 1 for table in document["accuracy"].values() for v in table.values())
    report = (out / "report.md").read_text()
    assert "| 7 (new) | 15 |" in report and "| **all** | 150 |" in report
    if installed("matplotlib"):  # without it: test_demo_without_matplotlib_skips_only_the_plot
        with Image.open(out / "loss-curve.png") as image:
            assert image.format == "PNG" and image.width > 600
        assert "![losses](loss-curve.png)" in report


def test_demo_without_matplotlib_skips_only_the_plot_and_says_so_first(cli_run, tmp_path):
    """matplotlib is hidden from a fresh interpreter: the demo notes it before any work, runs
    to the end with exit code 0, and writes everything but the plot."""
    base_model = (cli_run[0] / "MNISTBase.mlmodel").read_bytes()
    (tmp_path / "MNISTBase.mlmodel").write_bytes(base_model)  # reused: the run stays short
    script = (
        "import sys; sys.modules['matplotlib'] = None\n"  # as if it were not installed
        "from updatable.cli import main\n"
        f"sys.exit(main(['demo', '--quick', '-o', {str(tmp_path)!r}]))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    note = next(i for i, line in enumerate(lines) if line.startswith("No loss-curve.png"))
    assert note < lines.index("== 1/6  The data")  # said before any work
    assert "pip install 'coreml-updatable[demo]'" in lines[note]
    assert "Done in" in result.stdout and (tmp_path / "UpdatedKNN.mlmodel").is_file()
    assert not (tmp_path / "loss-curve.png").exists()
    report = (tmp_path / "report.md").read_text()
    assert "| **all** | 150 |" in report and "loss-curve.png" not in report


def test_demo_models_are_valid_and_trained_only_where_updatable(cli_run):
    out, _ = cli_run
    before = updatable.load(out / "PersonalizableClassifier.mlmodel")
    after = updatable.load(out / "UpdatedClassifier.mlmodel")
    assert updatable.validate(after) == [] and after.isUpdatable
    for layer in ("conv1", "conv2", "dense1", "dense2"):
        old = getattr(find_layer(before, layer), find_layer(before, layer).WhichOneof("layer"))
        new = getattr(find_layer(after, layer), find_layer(after, layer).WhichOneof("layer"))
        changed = not np.array_equal(old.weights.floatValue, new.weights.floatValue)
        assert changed == (layer in ("dense1", "dense2")), layer
    knn_spec = updatable.load(out / "UpdatedKNN.mlmodel")
    knn = knn_spec.pipelineClassifier.pipeline.models[1].kNearestNeighborsClassifier
    assert len(knn.nearestNeighborsIndex.floatSamples) == 36  # the user's drawings
    assert sorted(set(knn.stringClassLabels.vector)) == [str(d) for d in range(10)]


def test_demo_api_run_reuses_the_base_and_beats_the_base_on_the_new_digits(cli_run):
    out, _ = cli_run
    events = []
    result = run_demo(DemoOptions(out=out, quick=True), events.append)
    steps = [e.number for e in events if isinstance(e, Step)]
    assert steps == [1, 2, 3, 4, 5, 6]
    assert any(isinstance(e, Note) and e.text.startswith("Reusing the base model") for e in events)
    assert not result.base_trained_now and result.base_outcome is None
    assert [v.errors for v in events if isinstance(v, Validation)] == [(), ()]
    started = [e for e in events if isinstance(e, TrainingStarted)]
    assert [(e.flow, e.examples) for e in started] == [("head", 36), ("knn", 36)]
    epochs = [e for e in events if isinstance(e, EpochEnd) and e.flow == "head"]
    assert [e.epoch for e in epochs] == list(range(20))
    # the epoch's mean mini-batch loss falls as the head learns
    assert np.mean([e.mean_loss for e in epochs[-3:]]) < 0.5 * epochs[0].mean_loss

    table = next(e for e in events if isinstance(e, AccuracyTable))
    assert table.new_classes == NEW and all(table.counts[c] == 15 for c in table.classes)
    before, head, knn = (table.columns[name] for name in ("base model", "fine-tuned head", "kNN"))
    assert all(before[c] == 0.0 for c in NEW)  # the base model cannot predict them
    assert np.mean([head[c] for c in NEW]) >= 0.4  # a clear margin, not an exact number
    assert np.mean([knn[c] for c in NEW]) >= 0.4
    assert table.overall["fine-tuned head"] > table.overall["base model"] + 0.05
    assert Path(result.files["report"]).read_text().count("(new)") == 3
