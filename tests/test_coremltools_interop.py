"""coremltools objects wherever a model is expected.

An ``MLModel`` (made from a builder's spec, loaded from a ``.mlmodel`` file, or returned by
``ct.convert``) and a ``Model`` message work everywhere a ``.mlmodel`` path does, with the
same results; an ML Program ``MLModel`` is refused as its ``.mlpackage`` directory is; an
in-place edit given an ``MLModel`` says how to edit its spec; and reading, validating and
running models never imports coremltools.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import subprocess
import sys
import warnings

import numpy as np
import pytest

import runtime
import updatable
from runtime.ort import import_ as ort_import
from tests import builders
from tests.optional import needs
from updatable.errors import ModelFileError, UnsupportedLayerError, ValidationError

SOURCES = ("path", "spec", "mlmodel", "mlmodel_from_file")


@contextlib.contextmanager
def _quiet():
    """coremltools logs that its native library is missing on Linux, and ct.convert draws
    progress bars on stderr."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            yield
        finally:
            logging.disable(logging.NOTSET)


def mlmodel(spec_or_path):
    """``ct.models.MLModel`` of a spec or a file (on Linux it cannot compile, only hold)."""
    with _quiet():
        import coremltools as ct

        return ct.models.MLModel(
            spec_or_path if isinstance(spec_or_path, updatable.proto.Model) else str(spec_or_path)
        )


def source(kind: str, spec, tmp_path):
    """``spec`` as the public API may receive it."""
    path = tmp_path / f"{kind}.mlmodel"
    updatable.save(spec, path)
    return {
        "path": lambda: path,
        "spec": lambda: spec,
        "mlmodel": lambda: mlmodel(spec),
        "mlmodel_from_file": lambda: mlmodel(path),
    }[kind]()


def trainable(seed=None):
    spec = builders.make_trainable(
        builders.classifier_nn(),
        ["dense1", "dense2"],
        loss_input="probs",
        lr=0.05,
        batch=4,
        epochs=2,
    )
    spec.neuralNetworkClassifier.updateParams.seed.defaultValue = 3 if seed is None else seed
    return spec


def examples(count=12, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((count, 4)).astype(np.float32)
    return runtime.ArrayBatchProvider(
        {"image": x, "label": np.where(x[:, 0] > 0, "dog", "cat").astype(object)}
    )


def run_task(model, data=None):
    """The trained spec of an update task on ``model``."""
    done = []
    task = runtime.UpdateTask(
        model, data or examples(), completion_handler=lambda c: done.append(c.model.spec())
    )
    task.resume()
    task.wait()
    assert task.error is None, task.error
    return done[0]


@pytest.mark.parametrize("kind", SOURCES)
def test_load_reads_every_source_into_a_spec_of_its_own(kind, tmp_path):
    spec = builders.classifier_nn()
    given = source(kind, spec, tmp_path)
    loaded = updatable.load(given)
    assert loaded == spec and loaded is not spec
    loaded.description.metadata.author = "changed"
    assert updatable.load(given) == spec  # the source is not touched by edits of the result


@pytest.mark.parametrize("kind", SOURCES)
def test_model_load_predicts_the_same_from_every_source(kind, tmp_path):
    spec = builders.classifier_nn()
    expected = runtime.Model.load(source("path", spec, tmp_path)).predict({"image": np.ones(4)})
    model = runtime.Model.load(source(kind, spec, tmp_path))
    assert model.predict({"image": np.ones(4)}) == expected
    assert model.path == (tmp_path / "path.mlmodel" if kind == "path" else None)


@pytest.mark.parametrize("kind", SOURCES)
def test_update_task_trains_the_same_from_every_source(kind, tmp_path):
    spec = trainable()
    updatable.save(spec, tmp_path / "reference.mlmodel")
    reference = run_task(tmp_path / "reference.mlmodel")
    trained = run_task(source(kind, spec, tmp_path))
    assert trained == reference
    assert trained.neuralNetworkClassifier.layers[0] != spec.neuralNetworkClassifier.layers[0]


@pytest.mark.parametrize("kind", ("mlmodel", "spec"))
def test_training_jobs_sweeps_and_validation_take_objects(kind, tmp_path):
    spec = trainable()
    given = source(kind, spec, tmp_path)
    job = runtime.train(
        given, examples(), session_parameters=runtime.TrainingSessionParameters(iterations=2)
    )
    from_path = runtime.train(
        source("path", spec, tmp_path),
        examples(),
        session_parameters=runtime.TrainingSessionParameters(iterations=2),
    )
    assert job.wait().spec == from_path.wait().spec
    assert updatable.validate(given) == updatable.validate(spec)
    assert updatable.check(given) == updatable.check(spec)
    sweep = builders.sweep_classifier(lr_range=(0.001, 1.0))
    x = np.random.default_rng(0).standard_normal((30, 4)).astype(np.float32) * 3
    y = np.asarray(["a", "b", "c"])[np.arange(30) % 3]
    tables = [
        runtime.sweep(
            given,
            "2x2classes:3shots:3test:seed=0",
            (x, y),
            values={"learningRate": [0.05, 0.5]},
            params=["learningRate"],
            executor="serial",
            measure_memory=False,
        )
        for given in (source(kind, sweep, tmp_path), source("path", sweep, tmp_path))
    ]
    assert len(tables[0]) == 2 * 2  # two learning rates, two users
    assert [row["epoch_losses"] for row in tables[0]] == [row["epoch_losses"] for row in tables[1]]
    assert tables[0].details["model"] == ("<MLModel>" if kind == "mlmodel" else "<spec>")


def test_check_reports_the_errors_of_an_mlmodel():
    spec = trainable()
    spec.neuralNetworkClassifier.updateParams.optimizer.sgdOptimizer.ClearField("miniBatchSize")
    with pytest.raises(ValidationError, match="C11: SGD optimizer should include miniBatchSize"):
        updatable.check(mlmodel(spec))
    with pytest.raises(ValidationError, match="C11"):
        runtime.UpdateTask(mlmodel(spec), examples())


def test_pipeline_builders_take_feature_extractors_as_objects(tmp_path):
    extractor, head = builders.drawing_embedding(), builders.empty_knn(128)
    expected = updatable.make_pipeline(extractor, head)
    path = tmp_path / "extractor.mlmodel"
    updatable.save(extractor, path)
    for given in (mlmodel(extractor), mlmodel(path), path, str(path)):
        assert updatable.make_pipeline(given, mlmodel(head)) == expected
    linked = updatable.make_linked_model(extractor, "Embedding.mlmodelc")
    assert updatable.make_linked_model(mlmodel(extractor), "Embedding.mlmodelc") == linked
    with pytest.raises(TypeError, match=r"feature_extractor: expected the path of a \.mlmodel"):
        updatable.make_pipeline(b"bytes", head)


def test_in_place_edits_refuse_an_mlmodel_and_say_how_to_edit_its_spec():
    spec = builders.classifier_nn()
    wrapped = mlmodel(spec)
    with pytest.raises(TypeError, match=r"got MLModel: .*spec = updatable.load\(mlmodel\)"):
        updatable.make_updatable(wrapped, ["dense2"])
    assert wrapped.get_spec() == spec
    edited = updatable.make_updatable(updatable.load(wrapped), ["dense2"])
    assert edited.isUpdatable and not wrapped.get_spec().isUpdatable


def test_save_writes_an_mlmodels_spec(tmp_path):
    spec = builders.classifier_nn()
    updatable.save(mlmodel(spec), tmp_path / "m.mlmodel")
    assert updatable.load(tmp_path / "m.mlmodel") == spec
    with pytest.raises(
        TypeError,
        match="save\\(\\) expects a Core ML Model message or a coremltools MLModel, got dict",
    ):
        updatable.save({}, tmp_path / "n.mlmodel")
    assert not (tmp_path / "n.mlmodel").exists()


@needs("onnx", "onnxruntime.training")
def test_ort_artifacts_from_an_mlmodel(tmp_path):
    spec = trainable()
    from runtime.ort import write_artifacts

    from_spec = write_artifacts(spec, tmp_path / "a")
    from_object = write_artifacts(mlmodel(spec), tmp_path / "b")
    assert from_object.hyperparameters == from_spec.hyperparameters
    sidecars = [json.loads((tmp_path / d / "coreml_training.json").read_text()) for d in "ab"]
    for key in ("hyperparameters", "values", "parameters", "training_inputs", "loss"):
        assert sidecars[0][key] == sidecars[1][key], key
    with pytest.raises(TypeError, match="not a file to write over; pass output="):
        ort_import.import_into_file(mlmodel(spec), tmp_path / "b" / "checkpoint")


# -- ct.convert -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def torch_net():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 2, 3))
    return net.eval()


def convert(net, convert_to="neuralnetwork"):
    import torch

    with _quiet(), contextlib.redirect_stdout(io.StringIO()):
        import coremltools as ct

        traced = torch.jit.trace(net, torch.zeros(1, 1, 6, 6))
        target = ct.target.iOS13 if convert_to == "neuralnetwork" else ct.target.iOS15
        return ct.convert(
            traced,
            inputs=[ct.TensorType(name="x", shape=(1, 1, 6, 6))],
            outputs=[ct.TensorType(name="y")],
            convert_to=convert_to,
            minimum_deployment_target=target,
        )


@needs("torch")
def test_a_converted_mlmodel_predicts_like_torch_and_trains(torch_net, tmp_path):
    import torch

    converted = convert(torch_net)
    x = np.random.default_rng(0).standard_normal((1, 1, 6, 6)).astype(np.float32)
    predicted = runtime.Model.load(converted).predict({"x": x})["y"]
    with torch.no_grad():
        expected = torch_net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(predicted.reshape(expected.shape), expected, rtol=1e-5, atol=1e-6)

    spec = updatable.load(converted)
    last = spec.neuralNetwork.layers[-1].name
    updatable.make_updatable(spec, [last])
    updatable.set_loss(spec, "mse", input="y", shape=(2, 2, 2))
    updatable.set_optimizer(spec, "sgd", learning_rate=0.1, mini_batch_size=4)
    updatable.set_epochs(spec, 3)
    rng = np.random.default_rng(1)
    data = runtime.ArrayBatchProvider(
        {"x": rng.standard_normal((10, 1, 1, 6, 6)), "y_true": rng.standard_normal((10, 2, 2, 2))}
    )
    trained = run_task(mlmodel(spec), data)
    assert trained == run_task(spec, data) == run_task(source("path", spec, tmp_path), data)
    assert trained.neuralNetwork.layers[-1] != spec.neuralNetwork.layers[-1]


@needs("torch")
def test_a_zoo_conversion_is_read_validated_and_refused_like_its_file(tmp_path):
    from tests.builders import torch_zoo

    with _quiet():
        converted = torch_zoo.convert_now("cnn_bn", "iOS14")
    path = tmp_path / "cnn_bn.mlmodel"
    converted.save(str(path))
    assert updatable.load(converted) == updatable.load(path)
    assert updatable.validate(converted) == updatable.validate(path)
    with pytest.raises(UnsupportedLayerError) as from_file:
        runtime.Model.load(path)
    with pytest.raises(UnsupportedLayerError) as from_object:
        runtime.Model.load(converted)
    assert str(from_object.value) == str(from_file.value)


@needs("torch")
def test_an_ml_program_is_refused_as_its_package_is(torch_net, tmp_path):
    program = convert(torch_net, "mlprogram")
    assert program.get_spec().WhichOneof("Type") == "mlProgram"
    refusal = "expected a .mlmodel model, got an ML Program package; ML Programs cannot be"
    attempts = {
        "updatable.load": lambda: updatable.load(program),
        "runtime.Model.load": lambda: runtime.Model.load(program),
        "runtime.UpdateTask": lambda: runtime.UpdateTask(program, examples()),
        "runtime.train": lambda: runtime.train(program, examples()),
        "updatable.validate": lambda: updatable.validate(program),
        "updatable.make_pipeline": lambda: updatable.make_pipeline(program, builders.empty_knn(8)),
    }
    for name, attempt in attempts.items():
        with pytest.raises(ModelFileError, match=refusal) as info:
            attempt()
        assert str(info.value).startswith(str(program.package_path)), name
    package = tmp_path / "Model.mlpackage"
    program.save(str(package))
    with pytest.raises(ModelFileError, match="got an ML Program package; ML Programs cannot be"):
        updatable.load(package)


def test_reading_and_running_models_never_imports_coremltools(tmp_path):
    path, extractor = tmp_path / "m.mlmodel", tmp_path / "extractor.mlmodel"
    updatable.save(trainable(), path)
    updatable.save(builders.drawing_embedding(), extractor)
    code = (
        "import sys, numpy as np, updatable, runtime\n"
        f"path = {str(path)!r}\n"
        "spec = updatable.load(path)\n"
        "updatable.check(path)\n"
        f"updatable.make_pipeline({str(extractor)!r}, updatable.make_knn_classifier(128, 'x'))\n"
        "runtime.Model.load(spec).predict({'image': np.ones(4)})\n"
        "assert 'coremltools' not in sys.modules, 'coremltools was imported'\n"
        "assert 'coremltools.models' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
