"""Resource bounds checked before work starts, and a cancel honoured inside a huge mini-batch.

A model decides its own mini-batch size and epochs, and Core ML's validator accepts any
positive values: a ``miniBatchSize`` of 1e9 used to build a billion-row batch (and hang for
minutes before an empty ``MemoryError``), ignoring cancels meanwhile.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import runtime
from runtime.kernels import memory
from runtime.model import images
from runtime.training import backprop
from tests import builders
from updatable import IntParam
from updatable.errors import FeatureError, ResourceLimitError, ShapeError

HUGE = 10**9


def classifier(batch: int, epochs: int = 1, seed: int = 0):
    """The 4-input classifier, its mini-batch size (and epochs) allowed up to ``batch``."""
    spec = builders.updatable_classifier(seed)
    updatable_params = spec.neuralNetworkClassifier.updateParams
    sgd = updatable_params.optimizer.sgdOptimizer
    sgd.miniBatchSize.CopyFrom(IntParam(batch, range=(1, max(batch, 2))).to_proto())
    updatable_params.epochs.CopyFrom(IntParam(epochs, range=(1, max(epochs, 2))).to_proto())
    return spec


def provider(count: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    points = rng.standard_normal((count, 4))
    labels = np.where(points[:, 0] > 0, "cat", "dog")
    return runtime.ArrayBatchProvider({"image": points, "label": labels})


def test_a_billion_row_mini_batch_is_refused_at_once_naming_the_bound():
    started = time.perf_counter()
    with pytest.raises(ResourceLimitError) as info:
        runtime.UpdateTask(classifier(HUGE), provider(100))
    assert time.perf_counter() - started < 5  # refused before any example is read
    message, error = str(info.value), info.value
    assert message.startswith(f"a mini-batch of {HUGE} examples (miniBatchSize {HUGE}, about")
    assert "Core ML fills every mini-batch to its full size" in message
    assert "of memory, more than the bound of" in message
    assert f"lower miniBatchSize to at most {error.largest}" in message
    assert error.parameter == "miniBatchSize" and 0 < error.largest < HUGE
    assert "\n" not in message


def test_the_bound_comes_from_the_setting_and_the_largest_value_fits_it():
    spec = classifier(64)
    with memory.limited(2_000_000), pytest.raises(ResourceLimitError) as info:
        runtime.UpdateTask(classifier(100_000), provider(50))
    largest = info.value.largest
    assert "(the memory bound set for this work)" in str(info.value)
    with memory.limited(2_000_000):
        runtime.UpdateTask(classifier(largest), provider(50))  # the largest value fits
        runtime.UpdateTask(spec, provider(50))


def test_the_environment_variable_sets_the_bound(monkeypatch):
    monkeypatch.setenv(memory.ENVIRONMENT_VARIABLE, "1MB")
    assert memory.limit() == (10**6, f"{memory.ENVIRONMENT_VARIABLE}=1MB")
    with pytest.raises(ResourceLimitError, match=r"UPDATABLE_MEMORY_LIMIT=1MB"):
        runtime.UpdateTask(classifier(100_000), provider(50))
    monkeypatch.setenv(memory.ENVIRONMENT_VARIABLE, "lots")
    with pytest.raises(Exception, match=r"UPDATABLE_MEMORY_LIMIT='lots' is not a size"):
        memory.limit()


def test_a_batch_larger_than_the_data_within_the_bound_still_trains_as_core_ml_does():
    done = threading.Event()
    handlers = runtime.UpdateProgressHandlers(completion_handler=lambda context: done.set())
    task = runtime.UpdateTask(classifier(64, epochs=2), provider(10), progress_handlers=handlers)
    task.resume()
    assert task.wait(60) is runtime.TaskState.COMPLETED and task.error is None and done.is_set()


def test_epochs_times_examples_past_the_sanity_bound_are_refused():
    with pytest.raises(ResourceLimitError) as info:
        runtime.UpdateTask(classifier(8, epochs=2**62), provider(100))
    message = str(info.value)
    assert message.startswith(f"{2**62} epochs of 104 examples is 4.8e+20 example passes")
    assert "lower epochs to at most" in message and info.value.parameter == "epochs"


def test_a_training_job_checks_its_iterations_too():
    params = runtime.TrainingSessionParameters(iterations=2**61)
    with pytest.raises(ResourceLimitError, match="epochs of 104 examples"):
        runtime.train(classifier(8), provider(100), session_parameters=params)


def test_a_knn_with_no_or_negative_dimensions_is_refused_with_a_project_error():
    for dims in (-1, 0):
        spec = builders.empty_knn()
        spec.kNearestNeighborsClassifier.nearestNeighborsIndex.numberOfDimensions = dims
        with pytest.raises(ShapeError, match=f"numberOfDimensions is {dims}; expected a positive"):
            runtime.Model.load(spec)


def test_a_knn_update_whose_store_would_pass_the_bound_fails_before_allocating():
    dims = 100_000
    spec = builders.empty_knn(dims=dims)
    data = runtime.ArrayBatchProvider([{"input": np.ones(dims, np.float32), "output": "a"}])
    with memory.limited(10**6):
        task = runtime.UpdateTask(spec, data)
        task.resume()
        assert task.wait(30) is runtime.TaskState.FAILED
    assert isinstance(task.error, ResourceLimitError)
    assert str(task.error).startswith(f"a kNN store of 16 samples of {dims} dimensions needs")


def test_a_network_whose_single_example_passes_the_bound_is_refused_at_load():
    def upsample(builder, inp, out):
        builder.add_upsample("up", 100_000, 100_000, inp, out)

    _, spec = builders.single_layer_nn((3, 4, 4), upsample)
    with pytest.raises(ResourceLimitError, match=r"^one example through the network \(2 blobs"):
        runtime.Model.load(spec)


def test_an_image_input_past_the_bound_is_refused_before_resizing():
    image_type = builders.updatable_mnist_example().description.input[0].type.imageType
    image_type.width = image_type.height = 10**6
    with pytest.raises(ResourceLimitError, match=r"^an image input 'image' of 1000000 x 1000000"):
        images.to_pixels(np.zeros((4, 4), np.uint8), image_type)
    image_type.width = 0
    with pytest.raises(FeatureError, match="expected a positive width and height"):
        images.to_pixels(np.zeros((4, 4), np.uint8), image_type)


def _cancel_latency(start, cancel, wait) -> float:
    start()
    time.sleep(0.6)  # inside the first (huge) mini-batch: reading it takes seconds
    asked = time.perf_counter()
    cancel()
    wait()
    return time.perf_counter() - asked


def test_a_cancel_is_honoured_within_a_second_inside_a_huge_mini_batch():
    task = runtime.UpdateTask(classifier(400_000), provider(1000))
    latency = _cancel_latency(task.resume, task.cancel, lambda: task.wait(30))
    assert task.state is runtime.TaskState.COMPLETED and task.error is None
    assert latency < 1.0, f"the cancel took {latency:.2f} s"


def test_a_job_cancel_is_honoured_within_a_second_inside_a_huge_mini_batch():
    params = runtime.TrainingSessionParameters(iterations=3)
    box = {}

    def start():
        box["job"] = runtime.train(classifier(400_000), provider(1000), session_parameters=params)

    latency = _cancel_latency(start, lambda: box["job"].cancel(), lambda: box["job"].wait(30))
    assert box["job"].result.stopped_by == "cancelled"
    assert latency < 1.0, f"the cancel took {latency:.2f} s"


def test_the_frozen_part_in_chunks_gives_the_same_weights_bit_for_bit(monkeypatch):
    spec = builders.updatable_mnist("sgd", ("dense_2",), batch=300, epochs=1)
    rng = np.random.default_rng(3)
    images = rng.random((300, 1, 28, 28), dtype=np.float32)
    labels = rng.integers(0, 10, 300)
    data = runtime.ArrayBatchProvider({"image": images, "digit": [str(v) for v in labels]})

    def trained():
        out = {}
        done = lambda context: out.update(  # noqa: E731
            w=context.model.parameter_value(runtime.ParameterKey.WEIGHTS.scoped("dense_2"))
        )
        task = runtime.UpdateTask(spec, data, completion_handler=done)
        task.resume()
        assert task.wait(120) is runtime.TaskState.COMPLETED, task.error
        return out["w"]

    chunked = trained()
    monkeypatch.setattr(backprop, "FROZEN_CHUNK", 10**6)
    assert np.array_equal(chunked, trained())


def _ctrl_c_latency(tmp_path, *extra) -> tuple[float, str, int]:
    """Start `updatable train` on a 400,000-row mini-batch, press Ctrl-C inside the batch,
    and time until the command reports the cancel."""
    import signal
    import subprocess
    import sys

    import updatable

    model, data = tmp_path / "Vectors.mlmodel", tmp_path / "data.npz"
    updatable.save(classifier(400_000, epochs=5), model)
    rng = np.random.default_rng(0)
    points = rng.standard_normal((1000, 4))
    np.savez(data, image=points, label=np.where(points[:, 0] > 0, "cat", "dog"))
    import os

    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "updatable.cli",
            "train",
            str(model),
            "--data",
            str(data),
            "--plain",
            "--out",
            str(tmp_path / "o.mlmodel"),
            *map(str, extra),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},  # each line as it is printed
        # a test runner started in the background ignores SIGINT, and children inherit that
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    for line in process.stdout:  # the epoch table's header: training has started
        if line.split()[:1] == ["epoch"]:
            break
    time.sleep(1.0)
    asked = time.perf_counter()
    process.send_signal(signal.SIGINT)
    seen = ""
    for line in process.stdout:
        seen += line
        if "cancelled after" in line:
            break
    latency = time.perf_counter() - asked
    rest, _ = process.communicate(timeout=60)
    return latency, seen + rest, process.returncode


@pytest.mark.parametrize("path", ["update task", "training job"])
def test_ctrl_c_in_the_cli_is_honoured_within_a_second_inside_a_huge_mini_batch(tmp_path, path):
    extra = ("--session", tmp_path / "session") if path == "training job" else ()
    latency, output, code = _ctrl_c_latency(tmp_path, *extra)
    assert code == 130 and "cancelled after" in output, output
    assert latency < 1.0, f"Ctrl-C took {latency:.2f} s to be honoured"
