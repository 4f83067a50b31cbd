"""UpdateTask on kNN classifiers and on a feature-extractor + kNN pipeline."""

from __future__ import annotations

import numpy as np
import pytest

import updatable
from runtime.model.configuration import ModelConfiguration, ParameterKey
from runtime.model.mlmodel import Model
from runtime.training.providers import ArrayBatchProvider, BatchProvider
from runtime.training.task import Event, TaskState, UpdateProgressHandlers, UpdateTask
from tests import builders
from updatable.errors import ParameterError

ALL = Event.TRAINING_BEGIN | Event.EPOCH_END | Event.MINI_BATCH_END


def _run(spec_or_path, provider, configuration=None, write_to=None):
    log = []

    def completion(context):
        log.append(
            ("completion", dict(context.metrics), dict(context.parameters), context.model is None)
        )
        if write_to is not None and context.model is not None:
            context.model.write(write_to)

    task = UpdateTask(
        spec_or_path,
        provider,
        configuration,
        UpdateProgressHandlers(
            ALL, lambda c: log.append((c.event, dict(c.metrics), dict(c.parameters))), completion
        ),
    )
    task.resume()
    task.wait()
    return task, log


def _knn(**kwargs):
    spec = builders.knn_classifier(dims=3, default_label="none", k=1, **kwargs)
    return spec


def _examples(points, labels):
    return ArrayBatchProvider({"input": np.asarray(points, np.float32), "output": labels})


def test_events_are_training_begin_and_completion_with_empty_dictionaries(tmp_path):
    out = tmp_path / "knn.mlmodel"
    task, log = _run(_knn(), _examples(np.eye(3), ["a", "b", "c"]), write_to=out)
    assert task.state is TaskState.COMPLETED and task.error is None
    assert log == [(Event.TRAINING_BEGIN, {}, {}), ("completion", {}, {}, False)]
    model = Model.load(out)
    assert model.predict({"input": np.array([0, 0.9, 0.1], np.float32)})["output"] == "b"
    knn = updatable.load(out).kNearestNeighborsClassifier
    assert len(knn.nearestNeighborsIndex.floatSamples) == 3
    assert list(knn.stringClassLabels.vector) == ["a", "b", "c"]


def test_a_bad_example_in_the_middle_appends_nothing_and_fails(tmp_path):
    path = tmp_path / "knn.mlmodel"
    updatable.save(_knn(points=[[5, 5, 5]], labels=["old"]), path)
    before = path.read_bytes()

    class Middle(BatchProvider):
        count = 5

        def features(self, index):
            if index == 2:
                return {"input": np.zeros((1, 3), np.float32), "output": "x"}  # [1, D]
            return {"input": np.full(3, index, np.float32), "output": f"l{index}"}

    written = []
    task = UpdateTask(path, Middle(), completion_handler=lambda c: written.append(c.model))
    task.resume()
    assert task.wait() is TaskState.FAILED
    assert "Shape of training data point 2 MLMultiArray is [1, 3], expected [3]" in str(task.error)
    assert written == [None]
    assert path.read_bytes() == before


def test_int64_labels_and_label_type_mismatch():
    spec = builders.knn_classifier(dims=2, default_label=0, k=1)
    task, _ = _run(spec, _examples([[0, 0], [1, 1]], [7, 9]))
    assert task.state is TaskState.COMPLETED
    task, _ = _run(spec, _examples([[0, 0], [1, 1]], ["7", "9"]))
    assert task.state is TaskState.FAILED and "expected Int64" in str(task.error)


def test_k_override_is_checked_at_construction():
    spec = builders.knn_classifier(dims=3, k=3, k_range=(1, 5))
    with pytest.raises(ParameterError, match="numberOfNeighbors"):
        UpdateTask(
            spec,
            _examples(np.eye(3), ["a", "b", "c"]),
            ModelConfiguration({ParameterKey.NUMBER_OF_NEIGHBORS: 9}),
        )
    task = UpdateTask(
        spec,
        _examples(np.eye(3), ["a", "b", "c"]),
        ModelConfiguration({ParameterKey.NUMBER_OF_NEIGHBORS: 2}),
    )
    task.resume()
    assert task.wait() is TaskState.COMPLETED


def test_many_single_example_updates_in_a_row(tmp_path):
    path = tmp_path / "knn.mlmodel"
    updatable.save(_knn(), path)
    rng = np.random.default_rng(0)
    points = rng.standard_normal((30, 3)).astype(np.float32)
    for i, point in enumerate(points):
        task, _ = _run(path, _examples([point], [f"p{i}"]), write_to=path)
        assert task.state is TaskState.COMPLETED
    model = Model.load(path)
    for i in (0, 17, 29):
        assert model.predict({"input": points[i]})["output"] == f"p{i}"


def test_feature_extractor_pipeline_appends_embeddings_computed_once(tmp_path):
    spec = builders.tiny_drawing_pipeline()
    rng = np.random.default_rng(1)
    drawings = (rng.random((6, 28, 28)) * 255).astype(np.uint8)
    from PIL import Image

    images = [Image.fromarray(d, mode="L") for d in drawings]
    calls = []

    class Drawings(BatchProvider):
        count = 6

        def features(self, index):
            calls.append(index)
            return {"drawing": images[index], "label": ["cat", "dog", "sun"][index % 3]}

    out = tmp_path / "personal.mlmodel"
    task, _log = _run(spec, Drawings(), write_to=out)
    assert task.state is TaskState.COMPLETED, task.error
    assert calls == list(range(6))  # each example read once
    model = Model.load(out)
    label_name = spec.description.predictedFeatureName
    for index in range(6):
        assert (
            model.predict({"drawing": images[index]})[label_name]
            == ["cat", "dog", "sun"][index % 3]
        )
