"""Sessions: restore, resume (after cancel or SIGKILL), bitwise continuity, checkpoint files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import runtime
from runtime.jobs.checkpoints import CheckpointError
from runtime.training.providers import ArrayBatchProvider
from tests.test_session_fixtures import (
    assert_same_weights,
    digits,
    mnist_model,
    provider,
    run,
    session,
    weights_of,
)
from updatable import spec as spec_io
from updatable.errors import SessionMismatchError

ROOT = Path(__file__).resolve().parents[1]


def _cancel_at(iteration: int):
    """An ``on_progress`` callback that cancels its job after ``iteration`` iterations."""
    holder = {}

    def callback(progress):
        if progress.phase == "training" and progress.item_count == iteration:
            holder["job"].cancel()

    return holder, callback


def _start_cancelling(spec, data, params, iteration, **kwargs):
    holder, callback = _cancel_at(iteration)
    holder["job"] = runtime.train(
        spec, data, session_parameters=params, on_progress=callback, **kwargs
    )
    return holder["job"].wait()


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_resume_after_cancel_is_bitwise_the_uninterrupted_run(tmp_path, optimizer):
    data, xv = provider(), digits(12, seed=4)
    validation = ArrayBatchProvider({"image": xv[0], "digit": xv[1]})
    stop = [runtime.EarlyStopping(patience=3, metric="validationLoss")]
    straight, straight_events = run(
        mnist_model(optimizer),
        data,
        validation,
        session(tmp_path / "straight", iterations=7),
        stop_when=stop,
    )
    cancelled = _start_cancelling(
        mnist_model(optimizer),
        data,
        session(tmp_path / "s", iterations=7),
        2,
        validation_data=validation,
        stop_when=stop,
    )
    assert cancelled.stopped_by == "cancelled" and cancelled.iteration == 2
    restored = runtime.restore_training_session(session(tmp_path / "s", iterations=7))
    assert restored.iteration == 2 and restored.phase == "training"
    job = runtime.resume(restored, data, validation, stop_when=stop)
    events = list(job)
    resumed = events[-1]
    assert resumed.iteration == straight.iteration and resumed.stopped_by == straight.stopped_by
    assert_same_weights(resumed.spec, straight.spec)
    tail = [e.metrics for e in events if isinstance(e, runtime.Progress) and e.phase == "training"]
    head = [
        e.metrics
        for e in straight_events
        if isinstance(e, runtime.Progress) and e.phase == "training"
    ]
    assert tail == head[2:]  # iterations 3.. report the very same metrics


WORKER = textwrap.dedent("""
    import sys, time
    import numpy as np
    sys.path.insert(0, {root!r})
    import runtime
    from runtime.training.providers import BatchProvider

    directory, hang_at = sys.argv[1], int(sys.argv[2])
    x = np.load(directory + "/x.npy")
    labels = [str(v) for v in np.load(directory + "/y.npy")]

    class Slow(BatchProvider):
        count = len(x)

        def features(self, index):
            time.sleep(0.004)  # leaves time to be killed mid-epoch
            return {{"image": x[index], "digit": labels[index]}}

    if hang_at:
        original = np.savez

        def savez(handle, **arrays):
            if getattr(handle, "name", "").endswith("state.npz") and hang_at in seen:
                handle.write(b"PK\\x03\\x04 partial")  # a torn write
                handle.flush()
                print("writing", flush=True)
                time.sleep(120)
            original(handle, **arrays)

        np.savez = savez
    seen = set()

    def announce(progress):
        if progress.phase == "training":
            seen.add(progress.item_count)

    params = runtime.TrainingSessionParameters(directory + "/session", report_interval=1,
                                               checkpoint_interval=2, iterations=8)
    job = runtime.train(directory + "/model.mlmodel", Slow(), session_parameters=params,
                        on_progress=announce,
                        on_checkpoint=lambda c: print("checkpoint", c.iteration, flush=True))
    job.wait()
    print("finished", flush=True)
""")


def _killed_worker(tmp_path: Path, hang_at: int, kill_after: str) -> None:
    """Run the worker until it prints ``kill_after``, then SIGKILL it."""
    spec_io.save(mnist_model(), tmp_path / "model.mlmodel")
    x, labels = digits(36, seed=1)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", np.array([int(v) for v in labels]))
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(root=str(ROOT)))
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    worker = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path), str(hang_at)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines = []
    try:
        for line in worker.stdout:
            lines.append(line.strip())
            if line.strip() == kill_after:
                worker.send_signal(signal.SIGKILL)
                break
    finally:
        worker.kill()
        stderr = worker.stderr.read()
        worker.wait()
    assert worker.returncode == -signal.SIGKILL, (lines, stderr[-2000:])
    assert "finished" not in lines


def _resume_and_compare(tmp_path: Path, expected_iteration: int | None):
    x, labels = digits(36, seed=1)
    data = ArrayBatchProvider({"image": x, "digit": labels})
    restored = runtime.restore_training_session(session(tmp_path / "session", iterations=8))
    if expected_iteration is not None:
        assert restored.iteration == expected_iteration
    assert restored.problems == []
    assert not any(
        p.name.startswith(".tmp-") for p in (tmp_path / "session" / "checkpoints").iterdir()
    )
    resumed = runtime.resume(restored, data).wait()
    straight, _ = run(
        tmp_path / "model.mlmodel", data, params=session(tmp_path / "straight", iterations=8)
    )
    assert resumed.iteration == 8
    assert_same_weights(resumed.spec, straight.spec)
    return restored


def test_resume_after_the_process_was_killed_mid_training(tmp_path):
    _killed_worker(tmp_path, hang_at=0, kill_after="checkpoint 2")
    restored = _resume_and_compare(tmp_path, None)
    assert restored.iteration >= 2


def test_a_kill_during_a_checkpoint_write_leaves_the_previous_checkpoint(tmp_path):
    _killed_worker(tmp_path, hang_at=4, kill_after="writing")
    torn = [
        p for p in (tmp_path / "session" / "checkpoints").iterdir() if p.name.startswith(".tmp-")
    ]
    assert len(torn) == 1 and (torn[0] / "state.npz").exists()
    _resume_and_compare(tmp_path, expected_iteration=2)


def test_remove_checkpoints(tmp_path):
    run(mnist_model(), provider(), params=session(tmp_path, checkpoint_interval=2))
    restored = runtime.restore_training_session(session(tmp_path))
    assert [c.iteration for c in restored.checkpoints] == [2, 4, 6]
    restored.remove_checkpoints(lambda c: c.iteration < 6)
    assert [c.iteration for c in restored.checkpoints] == [6]
    again = runtime.restore_training_session(session(tmp_path))
    assert [c.iteration for c in again.checkpoints] == [6]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["000006"]


def test_model_from_checkpoint_round_trip(tmp_path):
    result, _ = run(mnist_model(), provider(), params=session(tmp_path, checkpoint_interval=2))
    restored = runtime.restore_training_session(session(tmp_path))
    last = restored.checkpoints[-1]
    path = tmp_path / "from_checkpoint.mlmodel"
    spec = runtime.model_from_checkpoint(last, path)
    assert_same_weights(spec, result.spec)
    assert_same_weights(spec_io.load(path), result.spec)
    x, _ = digits(4, seed=9)
    loaded = runtime.Model.load(path).predict_batch({"image": x})
    assert loaded == result.model.predict_batch({"image": x})
    two, _ = run(mnist_model(), provider(), params=session(tmp_path / "two", iterations=2))
    assert_same_weights(runtime.model_from_checkpoint(restored.checkpoints[0]), two.spec)


def test_a_corrupt_checkpoint_is_named_and_the_others_stay_usable(tmp_path):
    run(mnist_model(), provider(), params=session(tmp_path, checkpoint_interval=2))
    (tmp_path / "checkpoints" / "000006" / "state.npz").write_bytes(b"PK\x03\x04garbage")
    (tmp_path / "checkpoints" / "000002" / "meta.json").write_text("{not json")
    restored = runtime.restore_training_session(session(tmp_path, iterations=6))
    assert [c.iteration for c in restored.checkpoints] == [4, 6]
    assert len(restored.problems) == 1 and "000002" in restored.problems[0]
    with pytest.raises(CheckpointError, match="checkpoint at iteration 6 is unreadable"):
        runtime.resume(restored, provider())
    with pytest.raises(CheckpointError, match="iteration 6"):
        runtime.model_from_checkpoint(restored.checkpoints[-1])
    four, _ = run(mnist_model(), provider(), params=session(tmp_path / "four", iterations=4))
    assert_same_weights(runtime.model_from_checkpoint(restored.checkpoints[0]), four.spec)
    resumed = runtime.resume(restored, provider(), checkpoint=restored.checkpoints[0]).wait()
    straight, _ = run(mnist_model(), provider(), params=session(tmp_path / "straight"))
    assert_same_weights(resumed.spec, straight.spec)


def test_resume_refuses_other_data_or_another_model(tmp_path):
    run(mnist_model(), provider(), params=session(tmp_path, iterations=2))
    restored = runtime.restore_training_session(session(tmp_path))
    with pytest.raises(SessionMismatchError, match="has 30 examples; the session trained on 36"):
        runtime.resume(restored, provider(count=30))
    x, labels = digits(36, seed=1)
    relabelled = ArrayBatchProvider({"image": x, "digit": labels[1:] + labels[:1]})
    with pytest.raises(SessionMismatchError, match="targets of examples"):
        runtime.resume(restored, relabelled)
    brighter = ArrayBatchProvider({"image": x * 0.5, "digit": labels})
    with pytest.raises(SessionMismatchError, match="verify_data='labels'"):
        runtime.resume(restored, brighter)
    assert runtime.resume(restored, brighter, verify_data="labels").wait().iteration == 6
    with pytest.raises(SessionMismatchError, match="not the model of the session"):
        runtime.resume(restored, provider(), model=mnist_model(lr=0.01))
    spec_io.save(mnist_model(lr=0.01), tmp_path / "model.mlmodel")
    with pytest.raises(SessionMismatchError, match="differs from the model the session started"):
        runtime.resume(restored, provider())


def test_restoring_a_directory_without_a_session(tmp_path):
    with pytest.raises(CheckpointError, match="no training session in"):
        runtime.restore_training_session(session(tmp_path))
    fresh = tmp_path / "fresh"
    started = time.time()
    run(mnist_model(), provider(), params=session(fresh, iterations=2, checkpoint_interval=5))
    restored = runtime.restore_training_session(session(fresh))
    assert restored.iteration == 2 and restored.date.timestamp() >= started - 1
    weights = weights_of(runtime.model_from_checkpoint(restored.checkpoints[0]))
    assert all(np.isfinite(v).all() for v in weights.values())
