"""What `updatable export-ort` gives an ONNX Runtime user: a sidecar that says how to feed the
artifacts (inputs, label, Core ML's batching recipe, float64 hyperparameters) and a plain
onnxruntime-training driver script that, run on the same examples, ends with the weights
our ``UpdateTask`` ends with (to the 1e-5 parity the ORT backend promises)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import runtime
import updatable
from tests import builders
from tests.digits import mnist_digits
from tests.optional import needs, require

require("onnx")
require("onnxruntime")
pytestmark = needs("onnxruntime.training")

from runtime.ort import import_checkpoint, write_artifacts  # noqa: E402  (after the skip)
from tests.ort_support import assert_relative  # noqa: E402

DENSE_HEAD = ("dense_1", "dense_2")
# runs the driver with our packages made unimportable: it must stand on its own
NO_TOOLKIT = (
    "import importlib.abc, runpy, sys\n"
    "class Refuse(importlib.abc.MetaPathFinder):\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] in ('runtime', 'updatable', 'tests'):\n"
    "            raise ImportError(f'the driver imported {name}')\n"
    "sys.meta_path.insert(0, Refuse())\n"
    "sys.argv = sys.argv[1:]\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)


def cli(*args):
    result = subprocess.run(
        [sys.executable, "-m", "updatable.cli", *map(str, args)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def digits_model(optimizer="sgd", seed=None, image_input=False):
    lr = 0.05 if optimizer == "sgd" else 1e-3
    spec = builders.updatable_mnist(
        optimizer, DENSE_HEAD, image_input=image_input, lr=lr, batch=8, epochs=2
    )
    if seed is not None:
        spec.neuralNetworkClassifier.updateParams.seed.defaultValue = seed
    return spec


def digits_data(image_input=False, count=20):
    images, labels = mnist_digits(count, seed=3)
    x = images.transpose(0, 2, 3, 1) if image_input else images / np.float32(255)
    return x.astype(np.float32), np.array([str(v) for v in labels])


def update_task_weights(path, x, labels, events):
    """The weights of the trained layers after Core ML's UpdateTask (the numba backend)."""
    provider = runtime.ArrayBatchProvider({"image": list(x), "digit": list(labels)})
    trained = {}

    def completion(context):
        for layer in DENSE_HEAD:
            key = runtime.ParameterKey.WEIGHTS.scoped(layer)
            trained[layer] = np.asarray(context.model.parameter_value(key))

    handlers = runtime.UpdateProgressHandlers(events, lambda context: None, completion)
    task = runtime.UpdateTask(path, provider, progress_handlers=handlers)
    task.resume()
    task.wait()
    assert task.error is None, task.error
    return trained


def driver_weights(model_path, out, x, labels, *extra):
    """Run the exported driver script (our packages unimportable); the weights it trained."""
    data = out.parent / "data.npz"
    np.savez(data, image=x, digit=labels)
    script, checkpoint = out / "train_with_onnxruntime.py", out.parent / "trained"
    result = subprocess.run(
        [sys.executable, "-c", NO_TOOLKIT, str(script), str(data), "--out", str(checkpoint),
         *extra],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == f"wrote {checkpoint}"
    trained = import_checkpoint(model_path, checkpoint)
    return {
        layer: np.asarray(updatable.spec.find_layer(trained, layer).innerProduct.weights.floatValue)
        for layer in DENSE_HEAD
    }


def test_the_sidecar_says_how_to_feed_the_artifacts(tmp_path):
    path, out = tmp_path / "digits.mlmodel", tmp_path / "ort"
    updatable.save(digits_model(seed=7), path)
    cli("export-ort", path, "-o", out)
    sidecar = json.loads((out / "coreml_training.json").read_text())
    assert sidecar["driver"] == "train_with_onnxruntime.py" and (out / sidecar["driver"]).exists()
    assert [(i["name"], i["dtype"], i["shape"]) for i in sidecar["inputs"]] == [
        ("image", "float32", ["N", 1, 28, 28])
    ]
    label = sidecar["label"]
    assert (label["name"], label["dtype"], label["shape"]) == (
        "digitProbabilities_true", "int64", ["N"]
    )  # fmt: skip
    assert label["training_input"] == "digit" and label["classes"] == [str(d) for d in range(10)]
    recipe = sidecar["batching"]
    assert (recipe["mini_batch_size"], recipe["epochs"], recipe["shuffle"], recipe["seed"]) == (
        8, 2, True, 7
    )  # fmt: skip
    assert "std::minstd_rand" in recipe["order"] and "order[p mod N]" in recipe["last_batch"]
    assert sidecar["values"]["learningRate"] == 0.05  # float64, not float32's 0.0500000007

    from runtime.ort.deps import training_api

    state = training_api().api.CheckpointState.load_checkpoint(str(out / "checkpoint"))
    assert state.properties["learningRate"] == "0.05"
    assert json.loads(state.properties["coreml.values"])["learningRate"] == 0.05
    assert state.properties["miniBatchSize"] == 8 and state.properties["seed"] == 7


@pytest.mark.parametrize(
    "optimizer, seed, layout",
    [("sgd", 11, "whole"), ("adam", 5, "split")],  # no seed: the image test
)
def test_the_driver_trains_like_update_task(tmp_path, optimizer, seed, layout):
    path, out = tmp_path / "digits.mlmodel", tmp_path / "ort"
    updatable.save(digits_model(optimizer, seed), path)
    write_artifacts(path, out, layout=layout)
    x, labels = digits_data()
    expected = update_task_weights(path, x, labels, runtime.Event.EPOCH_END)
    trained = driver_weights(path, out, x, labels)
    before = updatable.load(path)
    for layer in DENSE_HEAD:
        original = updatable.spec.find_layer(before, layer).innerProduct.weights.floatValue
        assert np.abs(expected[layer].ravel() - np.asarray(original)).max() > 1e-3  # it trained
        assert_relative(trained[layer], expected[layer].ravel(), f"{layer} weights")


def test_without_reshuffling_it_matches_a_completion_only_task(tmp_path):
    """Core ML's default engine reshuffles only for an app subscribed to epochEnd."""
    path, out = tmp_path / "digits.mlmodel", tmp_path / "ort"
    updatable.save(digits_model(seed=3), path)
    write_artifacts(path, out)
    x, labels = digits_data()
    once = update_task_weights(path, x, labels, runtime.Event(0))
    every = update_task_weights(path, x, labels, runtime.Event.EPOCH_END)
    trained = driver_weights(path, out, x, labels, "--no-reshuffle")
    assert_relative(trained["dense_2"], once["dense_2"].ravel(), "dense_2 weights")
    assert np.abs(once["dense_2"] - every["dense_2"]).max() > 1e-6  # the order matters


def test_an_image_input_is_fed_as_pixels_in_channels_last_order(tmp_path):
    path, out = tmp_path / "digits.mlmodel", tmp_path / "ort"
    updatable.save(digits_model(image_input=True), path)
    write_artifacts(path, out)
    sidecar = json.loads((out / "coreml_training.json").read_text())
    (image,) = sidecar["inputs"]
    assert image["shape"] == ["N", 28, 28, 1] and "0..255" in image["coreml"]
    x, labels = digits_data(image_input=True)
    expected = update_task_weights(path, x, labels, runtime.Event.EPOCH_END)
    trained = driver_weights(path, out, x, labels)
    assert_relative(trained["dense_1"], expected["dense_1"].ravel(), "dense_1 weights")
