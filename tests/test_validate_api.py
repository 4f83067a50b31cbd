"""The public entry points: ``updatable.validate``, ``updatable.check`` and ``Issue``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import updatable
from tests import builders
from updatable.errors import ModelFileError, ValidationError
from updatable.validation import Issue


def test_public_names_work_whatever_was_imported_first():
    import updatable.validation as module

    spec = builders.base_nn()
    assert updatable.validate(spec) == module.validate(spec) == []
    assert updatable.validate(spec, lint=False) == []
    assert updatable.Issue is Issue
    assert updatable.check(spec) == []


def test_issue_is_a_frozen_record():
    issue = Issue(
        "C11", "error", "updateParams", "a message", "INVALID_UPDATABLE_MODEL_CONFIGURATION"
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        issue.code = "C12"
    assert str(issue) == "error C11 [updateParams]: a message"
    assert Issue("X8", "warning", "model", "m").result_type == ""


def test_valid_model_has_no_issues_and_check_returns_the_warnings():
    spec = builders.tiny_drawing_pipeline()
    assert updatable.validate(spec) == []
    warnings = updatable.check(builders.updatable_nn())
    assert warnings and all(issue.severity == "warning" for issue in warnings)


def test_core_ml_stops_at_the_first_error_and_lint_follows():
    spec = builders.updatable_nn()
    sgd = spec.neuralNetwork.updateParams.optimizer.sgdOptimizer
    sgd.ClearField("miniBatchSize")
    spec.neuralNetwork.updateParams.ClearField("epochs")  # a second Core ML error, not reported
    issues = updatable.validate(spec)
    assert [issue.code for issue in issues] == ["C11", "X5", "X5"]
    assert issues[0].result_type == "INVALID_UPDATABLE_MODEL_CONFIGURATION"


def test_check_raises_with_the_first_error():
    spec = builders.updatable_nn()
    spec.neuralNetwork.updateParams.optimizer.sgdOptimizer.ClearField("miniBatchSize")
    with pytest.raises(ValidationError) as caught:
        updatable.check(spec)
    assert str(caught.value) == "C11: SGD optimizer should include miniBatchSize parameter."
    assert [issue.code for issue in caught.value.issues] == ["C11", "X5", "X5"]
    assert isinstance(caught.value, ValueError)


def test_check_raises_on_lint_errors_that_core_ml_accepts():
    spec = builders.updatable_nn()
    weights = spec.neuralNetwork.layers[0].innerProduct.weights
    weights.ClearField("floatValue")
    weights.float16Value = b"\x00\x3c" * 9
    bias = spec.neuralNetwork.layers[0].innerProduct.bias  # Core ML refuses mixed precision
    bias.ClearField("floatValue")
    bias.float16Value = b"\x00\x3c" * 3
    with pytest.raises(ValidationError, match=r"^X2: layer 'ip1' stores weights as float16Value"):
        updatable.check(spec)
    assert updatable.check(spec, lint=False) == []


def test_validate_a_file(tmp_path: Path):
    path = tmp_path / "model.mlmodel"
    updatable.save(builders.updatable_classifier(), path)
    assert [i.code for i in updatable.validate(path)] == ["X5", "X5"]
    assert [i.code for i in updatable.validate(str(path))] == ["X5", "X5"]
    with pytest.raises(ModelFileError):
        updatable.validate(tmp_path / "missing.mlmodel")


def test_validation_never_prints(capsys):
    spec = builders.updatable_nn()
    spec.neuralNetwork.updateParams.ClearField("lossLayers")
    updatable.validate(spec)
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "")


def test_validator_modules_stay_small():
    root = Path(updatable.__file__).parent
    for path in sorted((root / "validation").glob("*.py")):
        n_lines = len(path.read_text().splitlines())
        assert n_lines <= 400, f"{path.name} has {n_lines} lines (budget 400)"
