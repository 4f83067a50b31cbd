"""One training run per session directory: a lock file with the holder's pid and host.

Two ``train --session S`` runs started 0.2 s apart both used to exit 0, S ending with one
run's checkpoints and the other's work silently gone; restoring a session could also delete
a live run's in-flight checkpoint as if it were an interrupted write.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

import runtime
import updatable
from runtime.jobs import session_lock
from tests import builders
from updatable.cli import main
from updatable.errors import SessionLockedError, UnsupportedModelError


def _data(count: int = 200, seed: int = 0):
    rng = np.random.default_rng(seed)
    points = rng.standard_normal((count, 4))
    return {"image": points, "label": np.where(points[:, 0] > 0, "cat", "dog")}


@pytest.fixture
def files(tmp_path):
    model, data = tmp_path / "Vectors.mlmodel", tmp_path / "data.npz"
    spec = builders.updatable_classifier()
    spec.neuralNetworkClassifier.updateParams.epochs.set.values.extend([39, 40])
    updatable.save(spec, model)
    np.savez(data, **_data())
    return model, data


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _train_command(model, data, session, epochs):
    return [
        sys.executable,
        "-m",
        "updatable.cli",
        "train",
        str(model),
        "--data",
        str(data),
        "--session",
        str(session),
        "--epochs",
        str(epochs),
        "--checkpoint-every",
        "20",
        "--batch",
        "4",
        "--plain",
        "--out",
        str(session.parent / f"out-{epochs}.mlmodel"),
    ]


def test_two_processes_started_together_on_one_session_one_runs_the_other_is_refused(
    files, tmp_path
):
    model, data = files
    session = tmp_path / "session"
    started, processes = [], []
    for epochs in (40, 39):  # the epoch counts tell the runs apart afterwards
        started.append(time.monotonic())
        processes.append(
            subprocess.Popen(
                _train_command(model, data, session, epochs),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
        time.sleep(0.2)
    results = []
    for process, start in zip(processes, started, strict=True):
        out, err = process.communicate(timeout=300)
        results.append((process.returncode, out, err, time.monotonic() - start))
    codes = sorted(code for code, *_ in results)
    assert codes == [0, 2], [(code, err[-500:]) for code, _, err, _ in results]
    (_, won_out, _, won_time), (_, _, lost_err, lost_time) = sorted(results, key=lambda r: r[0])
    winner = 40 if "/40" in won_out else 39
    assert f"{winner}/{winner}" in won_out
    assert lost_err.startswith(f"updatable train: error: {session} is in use by process ")
    assert f"on host '{socket.gethostname()}'" in lost_err
    assert "wait for it to end (or cancel it), or choose another --session directory" in lost_err
    assert len(lost_err.strip().splitlines()) == 1 and lost_time < won_time
    # the session holds the winner's run only, and the lock is gone
    record = json.loads((session / "session.json").read_text())
    assert record["hyperparameters"]["epochs"] in (10, winner)
    checkpoints = sorted(p.name for p in (session / "checkpoints").iterdir())
    assert checkpoints[-1] == f"{winner:06d}"
    assert not (session / session_lock.LOCK_FILE).exists()


def test_a_second_run_in_process_is_refused_while_the_first_holds_the_directory(tmp_path):
    session = tmp_path / "s"
    lock = session_lock.acquire(session)
    try:
        params = runtime.TrainingSessionParameters(session, iterations=2)
        with pytest.raises(SessionLockedError, match=rf"^{session} is in use by process "):
            runtime.train(
                builders.updatable_classifier(),
                runtime.ArrayBatchProvider(_data()),
                session_parameters=params,
            )
        assert not (session / "session.json").exists()  # refused before anything was written
    finally:
        lock.release()
    job = runtime.train(
        builders.updatable_classifier(),
        runtime.ArrayBatchProvider(_data()),
        session_parameters=runtime.TrainingSessionParameters(session, iterations=2),
    )
    job.wait(120)
    assert not (session / session_lock.LOCK_FILE).exists()  # released when the job ended


def test_a_lock_left_by_a_dead_process_on_this_host_is_taken_over_with_a_note(
    tmp_path, capsys, files
):
    model, data = files
    session = tmp_path / "s"
    session.mkdir()
    pid = _dead_pid()
    (session / session_lock.LOCK_FILE).write_text(
        json.dumps({"pid": pid, "host": socket.gethostname(), "started": "2024-01-01T00:00:00"})
    )
    argv = [
        "train",
        str(model),
        "--data",
        str(data),
        "--session",
        str(session),
        "--epochs",
        "5",
        "--plain",
        "--out",
        str(tmp_path / "o.mlmodel"),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert (
        f"took over the lock of process {pid} on host '{socket.gethostname()}' since "
        "2024-01-01T00:00:00, which no longer holds it"
    ) in out
    assert not (session / session_lock.LOCK_FILE).exists()


def test_a_lock_from_another_host_is_refused_with_the_file_to_delete(tmp_path):
    session = tmp_path / "s"
    session.mkdir()
    (session / session_lock.LOCK_FILE).write_text(json.dumps({"pid": 4242, "host": "elsewhere"}))
    params = runtime.TrainingSessionParameters(session, iterations=2)
    with pytest.raises(SessionLockedError) as info:
        runtime.train(
            builders.updatable_classifier(),
            runtime.ArrayBatchProvider(_data()),
            session_parameters=params,
        )
    assert str(info.value) == (
        f"{session} is locked by process 4242 on host 'elsewhere', which cannot be checked "
        f"from host '{socket.gethostname()}'; if that run has ended, delete "
        f"{session / session_lock.LOCK_FILE} and start again"
    )


def test_restoring_a_session_in_use_keeps_the_live_runs_in_flight_checkpoint(tmp_path):
    session = tmp_path / "s"
    params = runtime.TrainingSessionParameters(session, iterations=2, checkpoint_interval=1)
    runtime.train(
        builders.updatable_classifier(),
        runtime.ArrayBatchProvider(_data()),
        session_parameters=params,
    ).wait(120)
    in_flight = session / "checkpoints" / ".tmp-live"
    in_flight.mkdir()
    lock = session_lock.acquire(session)  # a live run writing its next checkpoint
    try:
        restored = runtime.restore_training_session(params)
        assert in_flight.is_dir() and restored.iteration == 2
        with pytest.raises(SessionLockedError):
            runtime.resume(restored, runtime.ArrayBatchProvider(_data()))
    finally:
        lock.release()
    runtime.restore_training_session(params)  # free again: an interrupted write is cleaned
    assert not in_flight.exists()


def test_a_run_refused_during_setup_leaves_no_lock_and_no_directory(tmp_path):
    session = tmp_path / "s"
    spec = builders.updatable_classifier()
    spec.isUpdatable = False
    with pytest.raises(UnsupportedModelError):
        runtime.train(
            spec,
            runtime.ArrayBatchProvider(_data()),
            session_parameters=runtime.TrainingSessionParameters(session),
        )
    assert not session.exists()  # the lock made it; nothing was written, so it is gone
    session.mkdir()
    with pytest.raises(UnsupportedModelError):
        runtime.train(
            spec,
            runtime.ArrayBatchProvider(_data()),
            session_parameters=runtime.TrainingSessionParameters(session),
        )
    assert session.is_dir() and list(session.iterdir()) == []  # the user's own: kept
