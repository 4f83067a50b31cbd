"""ONNX Runtime training artifacts: what the directory holds, the fixed ORT pitfalls, clean
failures (nothing half-written), the torch-free import, checkpoint import and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import updatable
from tests import builders
from tests.digits import mnist_digits
from tests.optional import needs, require
from updatable.errors import MissingDependencyError, ModelFileError, ParameterError

onnx = require("onnx")
require("onnxruntime")
# onnxruntime-training has wheels for Linux x86_64 with Python 3.11 only
pytestmark = needs("onnxruntime.training")

from runtime.ort import (  # noqa: E402  (imports onnx: after the skip check)
    OrtTrainingBackend,
    import_checkpoint,
    write_artifacts,
)

DENSE_HEAD = ("dense_1", "dense_2")


def test_checkpoint_and_sidecar_carry_the_hyperparameters(tmp_path):
    from onnxruntime.training.api import CheckpointState

    spec = builders.updatable_mnist(
        "adam", DENSE_HEAD, lr=0.003, batch=8, betas=(0.8, 0.99), eps=1e-7, epochs=4
    )
    artifacts = write_artifacts(spec, tmp_path / "ort")
    state = CheckpointState.load_checkpoint(str(artifacts.path("checkpoint")))
    # doubles as exact decimal strings: the format's float properties have 32 bits
    assert state.properties["learningRate"] == "0.003" and state.properties["beta1"] == "0.8"
    assert state.properties["miniBatchSize"] == 8 and state.properties["epochs"] == 4
    table = json.loads(state.properties["coreml.hyperparameters"])
    assert table["learningRate"] == {"default": 0.003, "range": [0.0, 1.0], "type": "float"}
    assert table["miniBatchSize"] == {"default": 8, "set": [8], "type": "int"}
    sidecar = json.loads((tmp_path / "ort" / "coreml_training.json").read_text())
    assert sidecar["hyperparameters"] == table
    assert sidecar["training_inputs"] == ["flat", "digitProbabilities_true"]
    assert sidecar["parameters"] == {
        "dense_1.bias": ["dense_1", "bias"],
        "dense_1.weights": ["dense_1", "weights"],
        "dense_2.bias": ["dense_2", "bias"],
        "dense_2.weights": ["dense_2", "weights"],
    }
    trainable = {name for name, p in state.parameters if p.requires_grad}
    assert trainable == set(sidecar["parameters"])
    frozen = onnx.load(str(artifacts.path("frozen_model")))
    assert {i.name for i in frozen.graph.initializer} >= {"conv1.weights", "conv2.bias"}


def test_known_ort_pitfalls_are_fixed(tmp_path):
    spec = builders.updatable_mnist("adam", ("dense_2",), eps=1e-7, betas=(0.85, 0.995))
    fixed = write_artifacts(spec, tmp_path / "fixed", layout="whole")
    raw = write_artifacts(spec, tmp_path / "raw", layout="whole", prune_maxpool_indices=False)
    optimizer = onnx.load(str(fixed.path("optimizer_model")))
    assert optimizer.ir_version <= 10
    (adam,) = [n for n in optimizer.graph.node if n.op_type == "AdamWOptimizer"]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in adam.attribute}
    assert attrs["adam_mode"] == 0 and attrs["weight_decay"] == 0.0
    assert attrs["epsilon"] == pytest.approx(1e-7) and attrs["alpha"] == pytest.approx(0.85)
    assert attrs["beta"] == pytest.approx(0.995) and attrs["correct_bias"] == 1

    def index_outputs(artifacts):
        model = onnx.load(str(artifacts.path("training_model")))
        return sum(len(n.output) == 2 for n in model.graph.node if n.op_type == "MaxPool")

    assert index_outputs(raw) == 1 and index_outputs(fixed) == 0


def test_sgd_momentum_is_refused_before_anything_is_written(tmp_path):
    spec = builders.updatable_mnist("sgd", DENSE_HEAD, momentum=0.9)
    with pytest.raises(ParameterError, match=r"momentum is 0\.9; ONNX Runtime's SGD"):
        write_artifacts(spec, tmp_path / "ort")
    assert os.listdir(tmp_path) == []


def test_hyperparameter_overrides_are_checked_against_the_model(tmp_path):
    spec = builders.updatable_mnist("adam", DENSE_HEAD)
    with pytest.raises(ParameterError, match=r"invalid value 1\.5 for parameter 'beta1'"):
        write_artifacts(spec, tmp_path / "ort", hyperparameters={"beta1": 1.5})
    assert os.listdir(tmp_path) == []


def test_bad_output_directories_fail_cleanly(tmp_path, monkeypatch):
    spec = builders.updatable_mnist("sgd", DENSE_HEAD)
    with pytest.raises(ModelFileError, match="does not exist"):
        write_artifacts(spec, tmp_path / "missing" / "ort")
    existing = tmp_path / "ort"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    with pytest.raises(ModelFileError, match="already exists"):
        write_artifacts(spec, existing)
    assert os.listdir(existing) == ["keep.txt"]

    import runtime.ort.artifacts as module

    def broken(*args):
        raise OSError("disk full")

    monkeypatch.setattr(module, "_write_sidecar", broken)
    with pytest.raises(OSError, match="disk full"):
        write_artifacts(spec, existing, overwrite=True)
    assert sorted(os.listdir(tmp_path)) == ["ort"]  # no half-written sibling left behind
    assert os.listdir(existing) == ["keep.txt"]
    monkeypatch.undo()
    write_artifacts(spec, existing, overwrite=True)
    assert "keep.txt" not in os.listdir(existing)
    assert sorted(os.listdir(tmp_path)) == ["ort"]


def test_unsupported_layer_fails_before_anything_is_written(tmp_path):
    from coremltools.models import datatypes
    from coremltools.models.neural_network import NeuralNetworkBuilder

    from updatable.errors import UnsupportedLayerError

    builder = NeuralNetworkBuilder([("x", datatypes.Array(2, 4, 4))], [("p", datatypes.Array(3))])
    builder.add_reorganize_data("s2d", "x", "r", mode="SPACE_TO_DEPTH", block_size=2)
    builder.add_flatten("flat", 0, "r", "f")
    builder.add_inner_product(
        "fc",
        W=np.ones((3, 32)),
        b=np.zeros(3),
        input_channels=32,
        output_channels=3,
        has_bias=True,
        input_name="f",
        output_name="z",
    )
    builder.add_softmax("softmax", "z", "p")
    spec = builders.make_trainable(builder.spec, ["fc"], loss_input="p")
    with pytest.raises(UnsupportedLayerError, match="layer 's2d' has kind 'reorganizeData'"):
        write_artifacts(spec, tmp_path / "ort")
    assert os.listdir(tmp_path) == []


def test_missing_extra_raises_with_the_install_command(tmp_path, monkeypatch):
    spec = builders.updatable_mnist("sgd", DENSE_HEAD)
    monkeypatch.setitem(sys.modules, "onnxruntime.training.artifacts", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'coreml-updatable\[ort\]'"):
        write_artifacts(spec, tmp_path / "ort")
    assert os.listdir(tmp_path) == []
    from runtime.ort import deps

    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(MissingDependencyError, match="ONNX export needs"):
        deps.require_onnx()


def test_training_works_without_torch(tmp_path):
    """onnxruntime.training imports torch through two submodules; without torch the
    backend registers placeholders and trains anyway."""
    spec = builders.updatable_mnist("adam", ("dense_2",))
    path = tmp_path / "m.mlmodel"
    updatable.save(spec, path)
    code = textwrap.dedent(f"""
        import importlib.machinery
        import sys

        class PathFinderWithoutTorch:  # as if torch were not installed: find_spec -> None
            @staticmethod
            def find_spec(name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    return None
                return importlib.machinery.PathFinder.find_spec(name, path, target)

            @staticmethod
            def invalidate_caches():
                importlib.machinery.PathFinder.invalidate_caches()

        sys.meta_path[:] = [PathFinderWithoutTorch if f is importlib.machinery.PathFinder
                            else f for f in sys.meta_path]
        import numpy as np
        from runtime.ort import OrtTrainingBackend
        backend = OrtTrainingBackend.create({str(path)!r})
        x = np.random.default_rng(0).random((8, 1, 28, 28), dtype=np.float32)
        loss = backend.step({{"image": x}}, np.arange(8) % 10, 0.01)
        assert np.isfinite(loss), loss
        assert "torch" not in sys.modules
        assert type(sys.modules["onnxruntime.training.amp"]).__name__ == "module"
        print("trained without torch", loss)
    """)
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=os.path.dirname(os.path.dirname(__file__)),
    )
    assert result.returncode == 0, result.stderr
    assert "trained without torch" in result.stdout


def test_checkpoints_written_by_other_tools_import_by_parameter_name(tmp_path):
    """A checkpoint without our properties (here made by ORT's generate_artifacts directly from
    the exported graph) maps '<layer>.weights' / '<layer>.bias' back to the layers."""
    from onnxruntime.training import artifacts as ort_artifacts

    from runtime.ort.export import Fetch, convert_network
    from runtime.ort.import_ import read_checkpoint

    spec = builders.updatable_mnist("sgd", ("dense_2",))
    graph, _ = convert_network(spec, [Fetch("logits", "logits", (10,))])
    weights = np.arange(320, dtype=np.float32).reshape(10, 32) / 320
    for initializer in graph.graph.initializer:
        if initializer.name == "dense_2.weights":
            initializer.CopyFrom(onnx.numpy_helper.from_array(weights, "dense_2.weights"))
    ort_artifacts.generate_artifacts(
        graph,
        requires_grad=["dense_2.weights", "dense_2.bias"],
        loss=ort_artifacts.LossType.CrossEntropyLoss,
        artifact_directory=str(tmp_path),
    )
    read = read_checkpoint(tmp_path / "checkpoint")
    assert set(read) == {"dense_2"} and set(read["dense_2"]) == {"weights", "bias"}
    personal = import_checkpoint(spec, tmp_path / "checkpoint")
    stored = updatable.spec.find_layer(personal, "dense_2").innerProduct.weights.floatValue
    np.testing.assert_array_equal(np.asarray(stored), weights.ravel())

    other = builders.regressor_nn()
    with pytest.raises(updatable.LayerNotFoundError, match="no layer named 'dense_2'"):
        import_checkpoint(other, tmp_path / "checkpoint")


def test_cli_exports_and_imports(tmp_path, capsys):
    from updatable.cli import main

    spec = builders.updatable_mnist("sgd", DENSE_HEAD)
    model = tmp_path / "m.mlmodel"
    updatable.save(spec, model)
    assert main(["export-ort", str(model), "-o", str(tmp_path / "ort")]) == 0
    out = capsys.readouterr().out
    assert "training_model.onnx" in out and "dense_2.weights" in out
    assert main(["export-ort", str(model), "-o", str(tmp_path / "ort")]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["export-ort", str(model), "-o", str(tmp_path / "m.onnx"), "--inference"]) == 0
    assert onnx.load(str(tmp_path / "m.onnx")).graph.output[0].name == "digitProbabilities"

    backend = OrtTrainingBackend.create(spec)
    feeds, labels = {"image": mnist_digits(8)[0] / np.float32(255)}, mnist_digits(8)[1]
    backend.step(feeds, labels, 0.1)
    backend.save_checkpoint(tmp_path / "trained.ckpt")
    target = tmp_path / "personal.mlmodel"
    assert main(["import-ort", str(model), str(tmp_path / "trained.ckpt"), "-o", str(target)]) == 0
    assert "dense_1: bias [32], weights [32, 2304]" in capsys.readouterr().out
    stored = updatable.spec.find_layer(updatable.load(target), "dense_2").innerProduct
    np.testing.assert_array_equal(stored.bias.floatValue, backend.weights()["dense_2"]["bias"])
    other = builders.updatable_mnist("sgd", ("dense_2",))
    other_path = tmp_path / "other.mlmodel"
    updatable.save(other, other_path)
    del updatable.spec.find_layer(other, "dense_1").innerProduct.weights.floatValue[:5]
    updatable.save(other, other_path)
    before = other_path.read_bytes()
    argv = ["import-ort", str(other_path), str(tmp_path / "trained.ckpt")]
    assert main([*argv, "--in-place"]) == 1
    assert "was not made from this model" in capsys.readouterr().err
    assert other_path.read_bytes() == before
    # without -o/--out or --in-place nothing is written over the input (the old default)
    assert main(argv) == 2
    assert "-o/--out OUT is required" in capsys.readouterr().err
    assert main([*argv, "-o", str(other_path)]) == 2
    assert "never writes over an input" in capsys.readouterr().err
    assert other_path.read_bytes() == before
