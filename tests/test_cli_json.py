"""Every reporting verb's ``--json``: stdout is one JSON document whose keys are the ones
docs/cli-json.md documents for that verb (every always-present key there, none undocumented).

The demo's document is checked in tests/test_demo.py (on its one reduced run), with
``documented_keys`` from here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import updatable
from tests import builders
from tests.optional import needs
from updatable.cli import main

ROOT = Path(__file__).resolve().parents[1]
JSON_DOC = ROOT / "docs" / "cli-json.md"


def documented_keys(verb: str) -> tuple[set[str], set[str]]:
    """(always-present keys, optional keys) of ``verb``'s table in docs/cli-json.md."""
    text = JSON_DOC.read_text()
    section = re.search(rf"^## {re.escape(verb)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert section, f"docs/cli-json.md has no section '## {verb}'"
    always, optional = set(), set()
    for key, meaning in re.findall(r"^\| `(\w+)` \| [^|]+ \| (.*) \|$", section.group(1), re.M):
        (optional if meaning.startswith("*optional*") else always).add(key)
    assert always or optional, f"docs/cli-json.md '## {verb}' has no key table"
    return always, optional


def assert_documented(verb: str, document: dict) -> None:
    always, optional = documented_keys(verb)
    keys = set(document)
    assert always <= keys, f"{verb} --json lacks documented keys {sorted(always - keys)}"
    undocumented = sorted(keys - always - optional)
    assert not undocumented, f"{verb} --json has undocumented keys {undocumented}"


def run_json(capsys, *argv) -> tuple[int, object]:
    """``updatable ARGV --json`` in process: (exit code, the parsed stdout)."""
    code = main([*map(str, argv), "--json"])
    captured = capsys.readouterr()
    assert captured.out, f"no JSON document (exit {code}): {captured.err}"
    return code, json.loads(captured.out)


@pytest.fixture
def files(tmp_path):
    paths = {
        "plain": tmp_path / "Plain.mlmodel",
        "updatable": tmp_path / "Updatable.mlmodel",
        "knn": tmp_path / "KNN.mlmodel",
        "data": tmp_path / "data.npz",
        "knn_data": tmp_path / "knn.npz",
        "example": tmp_path / "example.npy",
    }
    updatable.save(builders.classifier_nn(labels=("cat", "dog")), paths["plain"])
    updatable.save(builders.updatable_classifier(), paths["updatable"])
    updatable.save(builders.empty_knn(dims=4, default_label="none"), paths["knn"])
    rng = np.random.default_rng(0)
    points = rng.standard_normal((16, 4)).astype(np.float32)
    labels = np.where(points[:, 0] > 0, "cat", "dog")
    np.savez(paths["data"], image=points, label=labels)
    np.savez(paths["knn_data"], input=points, output=labels)
    np.save(paths["example"], points[0])
    return paths


def test_inspect_and_validate(files, capsys):
    for verb in ("inspect", "validate"):
        code, document = run_json(capsys, verb, files["updatable"])
        assert code == 0
        assert_documented(verb, document)
    assert document["valid"] is True


def test_make_updatable_valid_and_invalid(files, tmp_path, capsys):
    out = tmp_path / "Made.mlmodel"
    code, document = run_json(capsys, "make-updatable", files["plain"], "-o", out)
    assert code == 0 and out.exists()
    assert_documented("make-updatable", document)
    assert document["written"] and document["valid"] and document["layers"] == ["dense2"]
    assert document["out"] == str(out) and document["epochs"] == 10
    blocked = tmp_path / "Blocked.mlmodel"
    updatable.save(builders.blocked_classifier(), blocked)
    refused = tmp_path / "Refused.mlmodel"
    code, document = run_json(
        capsys, "make-updatable", blocked, "-o", refused, "--layers", "dense1"
    )
    assert code == 1 and not refused.exists()
    assert_documented("make-updatable", document)
    assert not document["written"] and any(i["code"] == "C17" for i in document["issues"])


def test_train_update_task_and_knn(files, tmp_path, capsys):
    out = tmp_path / "Trained.mlmodel"
    code, document = run_json(
        capsys, "train", files["updatable"], "--data", files["data"], "-o", out, "--epochs", "5"
    )
    assert code == 0 and out.exists()
    assert_documented("train", document)
    assert document["path"] == "update-task" and document["examples"] == 16
    assert [row["epoch"] for row in document["epochs"]] == [1, 2, 3, 4, 5]
    assert document["final_loss"] == document["epochs"][-1]["loss"] and document["written"]
    knn_out = tmp_path / "KNN-trained.mlmodel"
    code, document = run_json(
        capsys, "train", files["knn"], "--data", files["knn_data"], "-o", knn_out
    )
    assert code == 0
    assert_documented("train", document)
    assert document["path"] == "knn" and sum(document["added"].values()) == 16


def test_evaluate_and_predict(files, capsys):
    code, document = run_json(capsys, "evaluate", files["updatable"], "--data", files["data"])
    assert code == 0
    assert_documented("evaluate", document)
    code, document = run_json(capsys, "predict", files["updatable"], files["example"])
    assert code == 0 and isinstance(document, list) and len(document) == 1
    assert_documented("predict", document[0])
    assert document[0]["label"] in ("cat", "dog")


def test_sweep(files, tmp_path, capsys):
    spec = builders.sweep_classifier()
    model = tmp_path / "Sweep.mlmodel"
    updatable.save(spec, model)
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((3, 4)) * 4
    index = np.repeat(np.arange(3), 12)
    x = (centers[index] + rng.standard_normal((36, 4)) * 0.3).astype(np.float32)
    np.savez(tmp_path / "blobs.npz", x=x, y=np.asarray(["a", "b", "c"])[index])
    code, document = run_json(
        capsys, "sweep", model, "--users", "2x2classes:3shots:3test", "--data",
        tmp_path / "blobs.npz", "--serial", "--params", "learningRate", "--values",
        "learningRate=0.05", "--no-memory", "-o", tmp_path / "sweep",
    )  # fmt: skip
    assert code == 0
    assert_documented("sweep", document)
    assert document["tasks"] == 2 and document["applied"] is None


@needs("onnxruntime.training")
def test_export_and_import_ort(tmp_path, capsys):
    from runtime.ort import OrtTrainingBackend

    spec = builders.updatable_mnist("sgd", ("dense_2",))
    model = tmp_path / "m.mlmodel"
    updatable.save(spec, model)
    code, document = run_json(capsys, "export-ort", model, "-o", tmp_path / "ort")
    assert code == 0
    assert_documented("export-ort", document)
    assert document["kind"] == "artifacts" and "checkpoint" in document["files"]
    assert Path(document["driver"]).is_file()
    code, document = run_json(capsys, "export-ort", model, "-o", tmp_path / "m.onnx", "--inference")
    assert code == 0 and document["kind"] == "onnx"
    assert_documented("export-ort", document)
    backend = OrtTrainingBackend.create(spec)
    backend.save_checkpoint(tmp_path / "trained.ckpt")
    out = tmp_path / "imported.mlmodel"
    code, document = run_json(capsys, "import-ort", model, tmp_path / "trained.ckpt", "-o", out)
    assert code == 0 and out.exists()
    assert_documented("import-ort", document)
    assert document["in_place"] is False and document["layers"]["dense_2"]["bias"] == [10]


def test_every_verb_that_reports_has_json_and_a_documented_schema():
    from updatable.cli import VERBS, build_parser

    parser = build_parser()
    verbs = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for verb in VERBS:
        options = {o for action in verbs[verb]._actions for o in action.option_strings}
        assert "--json" in options, f"updatable {verb} has no --json"
        documented_keys(verb)
