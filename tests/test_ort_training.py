"""The ONNX Runtime training backend against independent references: a torch float64
training loop (same network, same Core ML batch order) and the toolkit's numba backend through
``UpdateTask``; and the export -> train -> import round trip."""

from __future__ import annotations

import numpy as np
import pytest

import runtime
import updatable
from tests import builders
from tests.digits import mnist_digits
from tests.optional import needs, require
from updatable.spec import find_layer

require("onnx")
require("onnxruntime")
# onnxruntime-training has wheels for Linux x86_64 with Python 3.11 only
pytestmark = needs("onnxruntime.training")

from runtime.ort import OrtTrainingBackend, import_checkpoint  # noqa: E402  (after the skip)
from tests.ort_support import (  # noqa: E402
    assert_relative,
    core_ml_batches,
    ort_training,
    small_squeezenet,
    torch_training,
)

DENSE_HEAD = ("dense_1", "dense_2")


@pytest.fixture(scope="module")
def digits():
    images, labels = mnist_digits(64)
    return {"image": images / np.float32(255)}, labels


@pytest.mark.parametrize("optimizer, lr", [("sgd", 0.05), ("adam", 1e-4)])
def test_dense_head_trains_like_torch_for_three_epochs(digits, optimizer, lr):
    """NOTE: Adam normalises every update to about ``lr``, so where float32 rounding flips a
    ReLU mask (a pre-activation near 0) or the sign of a tiny gradient, a float32 run and
    the float64 reference drift apart by about ``0.05 * lr`` relative to the weights after
    these 24 steps; torch float32 against torch float64 shows the same. Hence the small Adam
    learning rate for a 1e-5 comparison."""
    spec = builders.updatable_mnist(optimizer, DENSE_HEAD, lr=lr, batch=8)
    feeds, labels = digits
    batches = core_ml_batches(64, 8, epochs=3)
    backend = OrtTrainingBackend.create(spec)
    losses = ort_training(backend, feeds, labels, batches, lr)
    ref_losses, ref_weights = torch_training(
        spec, DENSE_HEAD, feeds, labels, batches, optimizer=optimizer, lr=lr, loss_blob="logits"
    )
    assert_relative(losses, ref_losses, "per-batch losses")
    assert losses[-1] < losses[0]  # it learns real digits
    weights = backend.weights()
    assert set(weights) == set(DENSE_HEAD)
    for layer in DENSE_HEAD:
        for field in ("weights", "bias"):
            assert_relative(
                weights[layer][field].ravel(), ref_weights[layer][field], f"{layer} {field}"
            )


def test_split_and_whole_layouts_train_identically(digits):
    spec = builders.updatable_mnist("adam", ("dense_2",), lr=0.01)
    feeds, labels = digits
    batches = core_ml_batches(64, 8, epochs=1)
    results = []
    for layout in ("split", "whole"):
        backend = OrtTrainingBackend.create(spec, layout=layout)
        results.append((ort_training(backend, feeds, labels, batches, 0.01), backend.weights()))
    assert_relative(results[0][0], results[1][0], "losses", 1e-6)
    assert_relative(
        results[0][1]["dense_2"]["weights"],
        results[1][1]["dense_2"]["weights"],
        "dense_2 weights",
        1e-6,
    )


def test_mse_regressor_trains_like_torch():
    spec = builders.make_trainable(
        builders.regressor_nn(),
        ("fc1", "fc2"),
        mse_output=("y", (2,)),
        optimizer="sgd",
        lr=0.05,
        batch=4,
    )
    rng = np.random.default_rng(3)
    x = rng.standard_normal((20, 4)).astype(np.float32)
    y = np.stack([x[:, 0] - x[:, 1], x[:, 2] * 0.5], axis=1).astype(np.float32)
    batches = core_ml_batches(20, 4, epochs=3, seed=7)
    backend = OrtTrainingBackend.create(spec)
    losses = ort_training(backend, {"x": x}, y, batches, 0.05)
    ref_losses, ref_weights = torch_training(
        spec,
        ("fc1", "fc2"),
        {"x": x},
        y,
        batches,
        optimizer="sgd",
        lr=0.05,
        loss_blob="y",
        mse=True,
    )
    assert_relative(losses, ref_losses, "losses")
    for layer, fields in ref_weights.items():
        for field, values in fields.items():
            assert_relative(backend.weights()[layer][field].ravel(), values, f"{layer} {field}")
    loss, outputs = backend.evaluate({"x": x[:4]}, y[:4])
    assert outputs.shape == (4, 2)
    assert loss == pytest.approx(float(np.mean((outputs - y[:4]) ** 2)), rel=1e-5)


@pytest.mark.parametrize("optimizer, lr", [("sgd", 0.01), ("adam", 1e-4)])
def test_squeezenet_conv10_trains_like_torch(optimizer, lr):
    spec = builders.make_trainable(
        small_squeezenet(), ("conv10",), loss_input="probs", optimizer=optimizer, lr=lr, batch=4
    )
    rng = np.random.default_rng(11)
    feeds = {"data": rng.standard_normal((12, 3, 67, 67)).astype(np.float32)}
    labels = rng.integers(0, 10, 12)
    batches = core_ml_batches(12, 4, epochs=3, seed=5)
    backend = OrtTrainingBackend.create(spec)
    losses = ort_training(backend, feeds, labels, batches, lr)
    ref_losses, ref_weights = torch_training(
        spec, ("conv10",), feeds, labels, batches, optimizer=optimizer, lr=lr, loss_blob="logits"
    )
    assert_relative(losses, ref_losses, "losses")
    for field in ("weights", "bias"):
        assert_relative(
            backend.weights()["conv10"][field].ravel(),
            ref_weights["conv10"][field],
            f"conv10 {field}",
        )
    assert backend.weights()["conv10"]["weights"].shape == (10, 512, 1, 1)


@pytest.mark.parametrize("optimizer, lr", [("sgd", 0.05), ("adam", 1e-4)])
def test_update_task_on_onnxruntime_matches_the_numba_backend(tmp_path, optimizer, lr):
    """The same UpdateTask (Core ML events, metrics, batching, shuffle order) on both
    backends: the same events with losses and final weights equal to 1e-5."""
    from runtime.model.configuration import ParameterKey
    from runtime.training.providers import ArrayBatchProvider
    from runtime.training.task import Event, UpdateProgressHandlers, UpdateTask

    images, labels = mnist_digits(40, seed=3)
    spec = builders.updatable_mnist(optimizer, DENSE_HEAD, lr=lr, batch=8, epochs=3)
    path = tmp_path / "digits.mlmodel"
    updatable.save(spec, path)
    provider = ArrayBatchProvider(
        {"image": list(images / np.float32(255)), "digit": [str(v) for v in labels]}
    )
    runs = {}
    for backend in ("numba", "onnxruntime"):
        events, trained = [], {}

        def progress(context, events=events):
            events.append((context.event, dict(context.metrics)))

        def completion(context, trained=trained):
            for layer in DENSE_HEAD:
                trained[layer] = context.model.parameter_value(ParameterKey.WEIGHTS.scoped(layer))

        handlers = UpdateProgressHandlers(
            Event.EPOCH_END | Event.MINI_BATCH_END, progress, completion
        )
        task = UpdateTask(path, provider, progress_handlers=handlers, backend=backend)
        task.resume()
        task.wait()
        assert task.error is None, task.error
        runs[backend] = events, trained
    (numba_events, numba_weights), (ort_events, ort_weights) = runs["numba"], runs["onnxruntime"]
    assert [(e, sorted(m)) for e, m in ort_events] == [(e, sorted(m)) for e, m in numba_events]
    assert len(ort_events) == 3 * (5 + 1)
    assert_relative(
        [m["lossValue"] for _, m in ort_events], [m["lossValue"] for _, m in numba_events], "losses"
    )
    for layer in DENSE_HEAD:
        assert_relative(ort_weights[layer], numba_weights[layer], f"{layer} weights", 1e-6)


def _trained_weights(path, provider, backend: str, layer: str) -> np.ndarray:
    from runtime.model.configuration import ParameterKey
    from runtime.training.task import UpdateTask

    trained = {}

    def completion(context):
        trained["w"] = context.model.parameter_value(ParameterKey.WEIGHTS.scoped(layer))

    task = UpdateTask(path, provider, completion_handler=completion, backend=backend)
    task.resume()
    task.wait()
    assert task.error is None, task.error
    return trained["w"]


def test_adam_over_hundreds_of_steps_agrees_with_onnxruntimes_adamw(tmp_path):
    """320 Adam steps on the linear head (no ReLU between it and the loss, so no mask can
    flip on rounding): ORT's AdamW and the numba kernel move the weights alike to float32
    rounding (2e-6 of the displacement). With beta1 / beta2 rounded to float32 in the
    moments but exact in the bias correction the numba steps were 6.4e-6 too large each."""
    from runtime.training.providers import ArrayBatchProvider

    images, labels = mnist_digits(64, seed=3)
    spec = builders.updatable_mnist("adam", ("dense_2",), lr=1e-3, batch=8, epochs=40)
    path = tmp_path / "digits.mlmodel"
    updatable.save(spec, path)
    provider = ArrayBatchProvider(
        {"image": list(images / np.float32(255)), "digit": [str(v) for v in labels]}
    )
    numba = _trained_weights(path, provider, "numba", "dense_2")
    weights = find_layer(spec, "dense_2").innerProduct.weights.floatValue
    initial = np.asarray(weights, np.float32).reshape(numba.shape)  # Core ML layout, as numba
    ort = _trained_weights(path, provider, "onnxruntime", "dense_2")
    moved = np.abs(numba - initial).max()
    assert moved > 1e-2  # it trained
    assert np.abs(ort - numba).max() <= 4e-6 * moved


def test_pipeline_head_trains_on_onnxruntime_like_numba(tmp_path):
    """A pipeline trains its last model; the frozen extractor runs in front of ORT too."""
    from runtime.model.configuration import ParameterKey
    from runtime.training.providers import ArrayBatchProvider
    from runtime.training.task import UpdateTask

    spec = builders.nn_head_pipeline()
    updatable.make_updatable(spec, ["dense"])
    updatable.set_loss(spec, "cross_entropy")
    updatable.set_optimizer(spec, "sgd", learning_rate=0.1, mini_batch_size=4)
    updatable.set_epochs(spec, 3)
    path = tmp_path / "pipeline.mlmodel"
    updatable.save(spec, path)
    x = np.random.default_rng(0).standard_normal((10, 4)).astype(np.float32)
    provider = ArrayBatchProvider(
        {"input": list(x), "label": ["cat" if v > 0 else "dog" for v in x[:, 0]]}
    )
    trained = {}
    for backend in ("numba", "onnxruntime"):

        def completion(context, backend=backend):
            trained[backend] = context.model.parameter_value(ParameterKey.WEIGHTS.scoped("dense"))

        task = UpdateTask(path, provider, completion_handler=completion, backend=backend)
        task.resume()
        task.wait()
        assert task.error is None, task.error
    original = np.asarray(
        updatable.spec.find_layer(
            spec.pipelineClassifier.pipeline.models[1], "dense"
        ).innerProduct.weights.floatValue
    )
    assert np.abs(trained["numba"].ravel() - original).max() > 1e-2  # it did train
    assert_relative(trained["onnxruntime"], trained["numba"], "dense weights")


def test_task_backend_evaluates_like_the_numba_backend(digits):
    from runtime.model.configuration import ModelConfiguration
    from runtime.training.providers import ArrayBatchProvider
    from runtime.training.task import Event
    from runtime.training.updates import open_update

    feeds, labels = digits
    spec = builders.updatable_mnist("sgd", DENSE_HEAD)
    provider = ArrayBatchProvider(
        {"image": list(feeds["image"]), "digit": [str(v) for v in labels]}
    )
    outputs = {}
    for backend in ("numba", "onnxruntime"):
        update = open_update(spec, provider, ModelConfiguration(), Event(0), backend)
        outputs[backend] = update.backend.evaluate(update.source.fetch(list(range(16))))
    (numba_loss, numba_logits), (ort_loss, ort_logits) = outputs["numba"], outputs["onnxruntime"]
    assert ort_loss == pytest.approx(numba_loss, rel=1e-5)
    assert ort_logits.shape == (16, 10)
    assert_relative(ort_logits, numba_logits, "logits")


def test_export_train_import_round_trip_preserves_predictions(tmp_path, digits):
    spec = builders.updatable_mnist("sgd", DENSE_HEAD, lr=0.05)
    model_path = tmp_path / "digits.mlmodel"
    updatable.save(spec, model_path)
    feeds, labels = digits
    backend = OrtTrainingBackend.create(model_path)
    ort_training(backend, feeds, labels, core_ml_batches(64, 8, epochs=2), 0.05)
    checkpoint = backend.save_checkpoint(tmp_path / "personal.ckpt")
    _, ort_probabilities = backend.evaluate(feeds, labels)

    personal = import_checkpoint(model_path, checkpoint)
    assert updatable.load(model_path) == spec  # the source model is untouched
    model = runtime.Model.load(personal)
    engine = model.engine
    blobs = engine.network.run(engine.to_blobs(feeds), outputs=["digitProbabilities"])
    probabilities = blobs["digitProbabilities"].reshape(64, 10)
    assert_relative(probabilities, ort_probabilities, "probabilities after import")
    predicted = model.predict_batch({"image": list(feeds["image"])})
    assert [p["digit"] for p in predicted] == [str(i) for i in ort_probabilities.argmax(1)]
    for layer, fields in backend.weights().items():
        stored = updatable.spec.find_layer(personal, layer).innerProduct
        np.testing.assert_array_equal(
            np.asarray(stored.weights.floatValue), fields["weights"].ravel()
        )
        assert stored.weights.isUpdatable
