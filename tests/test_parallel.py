"""The thread policy: batch-parallel forward runs over single-threaded BLAS.

The suite runs with ``OPENBLAS_NUM_THREADS=1``, where the policy keeps runs serial; these
tests switch batch splitting on with ``parallel.configure`` and compare against serial runs.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import threading

import numpy as np
import pytest

import runtime
from runtime.kernels import blas, parallel
from runtime.nn.graph import compile_network
from runtime.training import backprop
from tests import builders


@pytest.fixture(autouse=True)
def _policy_restored():
    yield
    parallel.configure(None)


def _recording(network, step_name, record):
    """Wrap one step's forward to call ``record()`` whenever it runs."""
    step = network.steps[network.index_of(step_name)]
    forward = step.kind.forward

    def wrapped(*args, **kwargs):
        record()
        return forward(*args, **kwargs)

    step.kind = dataclasses.replace(step.kind, forward=wrapped)


def test_chunks_cover_the_batch_in_order_with_sizes_within_one():
    assert parallel.chunk_bounds(8, 2) == [(0, 4), (4, 8)]
    assert parallel.chunk_bounds(8, 3) == [(0, 2), (2, 5), (5, 8)]
    assert parallel.chunk_bounds(1, 1) == [(0, 1)]


def test_a_batch_split_across_threads_gives_the_serial_result_bit_for_bit():
    network = compile_network(builders.fire_net())
    x = np.random.default_rng(0).standard_normal((5, 17, 17, 3)).astype(np.float32)
    threads = []
    _recording(network, "conv1", lambda: threads.append(threading.get_ident()))
    parallel.configure(1)
    serial = network.run({"data": x}, outputs=["fire", "probs"])
    assert len(set(threads)) == 1
    threads.clear()
    parallel.configure(2)
    split = network.run({"data": x}, outputs=["fire", "probs"])
    assert len(set(threads)) == 2 and threading.get_ident() in threads
    for name in serial:
        assert split[name].shape == serial[name].shape and split[name].flags.c_contiguous
        np.testing.assert_array_equal(split[name], serial[name], err_msg=name)
    one = network.run({"data": x[:1]})  # a single example is never split
    np.testing.assert_array_equal(one["probs"], serial["probs"][:1])


def test_blas_runs_on_one_thread_inside_a_split_run_and_is_restored_after():
    if parallel.blas_threads() is None:
        pytest.skip("numpy's BLAS is not an OpenBLAS whose thread count can be set")
    set_threads = blas.thread_control()[0]
    before = parallel.blas_threads()
    network = compile_network(builders.fire_net())
    seen = []
    _recording(network, "head", lambda: seen.append(parallel.blas_threads()))
    try:
        set_threads(2)
        parallel.configure(2)
        network.run({"data": np.zeros((4, 17, 17, 3), np.float32)})
        assert seen == [1, 1] and parallel.blas_threads() == 2
        with parallel.single_threaded_blas(), parallel.single_threaded_blas():
            assert parallel.blas_threads() == 1
        assert parallel.blas_threads() == 2
        parallel.configure(1)
        with parallel.serial_blas():  # serial runs leave BLAS its threads
            assert parallel.blas_threads() == 2
    finally:
        set_threads(before)


def test_a_run_inside_a_chunk_stays_serial_and_errors_reach_the_caller():
    parallel.configure(2)
    feeds = {"x": np.arange(6.0).reshape(6, 1)}

    def outer(chunk):
        inner = parallel.over_batch(
            lambda part: {"n": np.full(len(part["x"]), len(part["x"]))}, chunk
        )
        return {"y": chunk["x"] * 2, "n": inner["n"]}

    result = parallel.over_batch(outer, feeds)
    np.testing.assert_array_equal(result["y"], feeds["x"] * 2)
    np.testing.assert_array_equal(result["n"], [3] * 6)  # each chunk's nested run: unsplit

    def failing(chunk):
        if chunk["x"][0, 0] >= 3:
            raise ValueError("bad example in the second chunk")
        return {"y": chunk["x"]}

    with pytest.raises(ValueError, match="bad example in the second chunk"):
        parallel.over_batch(failing, feeds)

    def failing_first(chunk):
        if chunk["x"][0, 0] == 0:
            raise ValueError("bad example in the first chunk")
        return {"y": chunk["x"]}

    with pytest.raises(ValueError, match="bad example in the first chunk"):
        parallel.over_batch(failing_first, feeds)


def test_each_chunk_covers_the_batch_once_on_both_threads_and_reports_errors():
    parallel.configure(2)
    calls, lock = [], threading.Lock()

    def work(lo, hi):
        with lock:
            calls.append((lo, hi, threading.get_ident()))

    parallel.each_chunk(work, 7)
    assert sorted(call[:2] for call in calls) == [(0, 3), (3, 7)]
    assert len({call[2] for call in calls}) == 2
    calls.clear()
    parallel.configure(1)
    parallel.each_chunk(work, 7)
    assert [call[:2] for call in calls] == [(0, 7)]
    parallel.configure(2)

    def failing(lo, hi):
        if lo > 0:
            raise ValueError(f"bad rows {lo}:{hi}")

    with pytest.raises(ValueError, match="bad rows 3:7"):
        parallel.each_chunk(failing, 7)


def test_multiarray_inputs_reach_the_network_channels_last_whatever_their_layout():
    """The model's [C, H, W] multiArray batch becomes (N, H, W, C) blobs: split or not, from a
    float64 or a non-contiguous array alike."""
    from runtime.nn.engine import _channels_last

    rng = np.random.default_rng(3)
    chw = rng.standard_normal((5, 3, 7, 6))
    expected = chw.transpose(0, 2, 3, 1).astype(np.float32)
    for workers in (1, 2):
        parallel.configure(workers)
        for value in (chw, chw.astype(np.float32), np.asfortranarray(chw)):
            blob = _channels_last(value, (3, 7, 6))
            assert blob.dtype == np.float32 and blob.flags.c_contiguous
            np.testing.assert_array_equal(blob, expected)


def test_configure_rejects_a_non_positive_worker_count():
    with pytest.raises(ValueError, match="workers must be a positive integer or None; got 0"):
        parallel.configure(0)


def test_frozen_features_and_gradients_do_not_depend_on_the_split():
    spec = builders.updatable_mnist(batch=4)
    network = runtime.Model.load(spec).engine.network
    nn = spec.neuralNetworkClassifier
    updatable = {layer.name for layer in nn.layers if layer.isUpdatable}
    cut = backprop.build_slice(network.steps, updatable, nn.updateParams.lossLayers[0])
    x = {"image": np.random.default_rng(1).random((4, 28, 28, 1)).astype(np.float32)}
    target = np.array([0, 5, 9, 2])
    results = []
    for workers in (1, 2, 2):  # the second split batch reuses the plan with in-place buffers
        parallel.configure(workers)
        boundary = backprop.frozen_forward(cut, x)
        results.append((boundary, *backprop.loss_and_gradients(cut, boundary, target)[:2]))
    for boundary, loss, grads in results[1:]:
        np.testing.assert_array_equal(boundary["flat"], results[0][0]["flat"])
        assert loss == results[0][1]
        for key, grad in grads.items():
            np.testing.assert_array_equal(grad, results[0][2][key], err_msg=key)


def _forward_in_child(queue):
    network = compile_network(builders.fire_net())
    x = np.ones((4, 17, 17, 3), np.float32)
    queue.put(network.run({"data": x})["probs"])


def test_a_forked_child_runs_split_batches_with_its_own_threads():
    parallel.configure(2)
    network = compile_network(builders.fire_net())
    expected = network.run({"data": np.ones((4, 17, 17, 3), np.float32)})["probs"]
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_forward_in_child, args=(queue,))
    child.start()
    got = queue.get(timeout=60)
    child.join(timeout=60)
    assert child.exitcode == 0
    np.testing.assert_array_equal(got, expected)
