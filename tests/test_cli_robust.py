"""Careless hands at the command line: destinations that refuse files, damaged data files,
diverging training, a directory given as an input. Each gets one line on stderr, the exit
code ``updatable --help`` documents, no numpy warning, and no finished work lost."""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest

import updatable
from tests import builders
from updatable import DoubleParam
from updatable.cli import main
from updatable.spec import find_layer

UNEXPECTED = "unexpected"  # the CLI's prefix for an error type it does not know


def _unwritable_directory(tmp_path) -> Path:
    """A directory this process cannot create files in (root ignores permissions: on Linux
    /sys refuses it too), or skip."""
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        return locked
    for candidate in (Path("/sys/kernel"), Path("/sys")):
        try:
            fd, name = tempfile.mkstemp(dir=candidate)
        except OSError:
            return candidate
        os.close(fd)
        os.unlink(name)
    pytest.skip("no directory refuses files to this (root) process")


@pytest.fixture
def vectors(tmp_path):
    """The 4-input classifier (learning rate allowed up to 1e9) and 64 labelled examples."""
    spec = builders.updatable_classifier()
    updatable.set_optimizer(spec, "sgd", learning_rate=DoubleParam(0.01, range=(0.0, 1e9)))
    model, data = tmp_path / "Vectors.mlmodel", tmp_path / "data.npz"
    updatable.save(spec, model)
    rng = np.random.default_rng(0)
    points = rng.standard_normal((64, 4))
    np.savez(data, image=points, label=np.where(points[:, 0] > 0, "cat", "dog"))
    return model, data


def _one_error_line(err: str, verb: str = "train") -> str:
    assert err.startswith(f"updatable {verb}: error: "), err
    assert len(err.strip().splitlines()) == 1, err
    assert UNEXPECTED not in err and "[Errno" not in err and "Traceback" not in err
    return err


def test_out_in_a_place_that_refuses_files_is_refused_before_training(vectors, tmp_path, capsys):
    model, data = vectors
    out = _unwritable_directory(tmp_path) / "Updated.mlmodel"
    assert main(["train", str(model), "--data", str(data), "--out", str(out), "--plain"]) == 2
    captured = capsys.readouterr()
    err = _one_error_line(captured.err)
    assert f"--out {out}: cannot write into {out.parent} (" in err
    assert "epoch" not in captured.out  # refused before any training
    assert not out.exists()


def test_a_final_write_that_fails_anyway_keeps_the_model_and_says_where(
    vectors, tmp_path, capsys, monkeypatch
):
    model, data = vectors
    out, session = tmp_path / "Updated.mlmodel", tmp_path / "session"
    real_save = updatable.spec.save

    def disk_full_for_out(spec, path):  # the probe passed; the disk filled up meanwhile
        if Path(path) == out:
            raise updatable.errors.ModelFileError(f"{path}: cannot write the file (No space)")
        real_save(spec, path)

    monkeypatch.setattr(updatable.spec, "save", disk_full_for_out)
    for extra, where in (([], Path(tempfile.gettempdir())), (["--session", str(session)], session)):
        argv = [
            "train",
            str(model),
            "--data",
            str(data),
            "--out",
            str(out),
            "--epochs",
            "5",
            "--plain",
            *extra,
        ]
        assert main(argv) == 2
        err = _one_error_line(capsys.readouterr().err)
        assert err.startswith(
            f"updatable train: error: {out}: cannot write the file (No space);"
            f" the trained model was saved to {where}{os.sep}Updated-rescued-"
        )
        rescued = Path(err.split(" was saved to ")[1].split(" instead")[0])
        assert rescued.parent == where and updatable.load(rescued).isUpdatable
        rescued.unlink()


def test_a_session_directory_in_a_place_that_refuses_files_is_one_clear_line(
    vectors, tmp_path, capsys
):
    model, data = vectors
    session = _unwritable_directory(tmp_path) / "run1"
    argv = [
        "train",
        str(model),
        "--data",
        str(data),
        "--session",
        str(session),
        "--out",
        str(tmp_path / "o.mlmodel"),
    ]
    assert main(argv) == 2
    err = _one_error_line(capsys.readouterr().err)
    assert f"--session {session}: cannot create {session} in {session.parent} (" in err
    assert "choose a writable --session directory" in err


def test_a_damaged_npz_archive_is_a_data_error(vectors, tmp_path, capsys):
    model, data = vectors
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04" + b"garbage" * 20)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data.read_bytes()[:-200])
    for path in (corrupt, truncated):
        assert main(["train", str(model), "--data", str(path)]) == 2
        err = _one_error_line(capsys.readouterr().err)
        assert str(path) in err


def test_an_object_array_in_an_npz_archive_is_refused_naming_it(vectors, tmp_path, capsys):
    model, _ = vectors
    path = tmp_path / "objects.npz"
    labels = np.array(["cat", None, "dog", "cat"], dtype=object)
    np.savez(path, image=np.ones((4, 4)), label=labels)
    assert main(["train", str(model), "--data", str(path)]) == 2
    err = _one_error_line(capsys.readouterr().err)
    assert f"{path}: array 'label' holds Python objects (dtype object)" in err


def test_a_diverging_run_prints_no_numpy_warning(vectors, tmp_path, capsys):
    model, data = vectors
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main(
            [
                "train",
                str(model),
                "--data",
                str(data),
                "--lr",
                "1000",
                "--plain",
                "--out",
                str(tmp_path / "o.mlmodel"),
            ]
        )
    assert code == 1
    assert [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)] == []
    err = _one_error_line(capsys.readouterr().err)
    assert "lower the learning rate" in err


def test_evaluate_refuses_a_label_folder_the_classifier_lacks_as_train_does(tmp_path, capsys):
    from PIL import Image

    spec = builders.updatable_mnist_example()
    model = tmp_path / "Digits.mlmodel"
    updatable.save(spec, model)
    for label in ("3", "sevne"):
        (tmp_path / "data" / label).mkdir(parents=True)
        Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "data" / label / "a.png")
    for verb in ("train", "evaluate"):
        assert main([verb, str(model), "--data", str(tmp_path / "data")]) == 2
        err = _one_error_line(capsys.readouterr().err, verb)
        assert "label folder 'sevne'" in err and "is not one of the model's class labels" in err


def test_evaluate_accepts_labels_a_knn_has_not_learnt_yet(tmp_path, capsys):
    model, data = tmp_path / "KNN.mlmodel", tmp_path / "knn.csv"
    updatable.save(builders.empty_knn(), model)
    data.write_text("a,b,c,d,output\n1,0,0,0,new\n0,1,0,0,other\n")
    assert main(["evaluate", str(model), "--data", str(data), "--plain"]) == 0
    assert "accuracy 0.0%" in capsys.readouterr().out


def test_predict_given_a_directory_says_it_is_one(vectors, tmp_path, capsys):
    model, _ = vectors
    folder = tmp_path / "inputs"
    folder.mkdir()
    assert main(["predict", str(model), str(folder)]) == 2
    err = _one_error_line(capsys.readouterr().err, "predict")
    assert f"input {folder} is a directory; give the files in it" in err
    assert "does not exist" not in err


def test_a_classifier_layer_without_input_is_one_line_at_the_cli(tmp_path, capsys):
    spec = builders.updatable_mnist_example()
    del find_layer(spec, "relu_d1").input[:]
    model = tmp_path / "Broken.mlmodel"
    updatable.save(spec, model)
    assert main(["predict", str(model), str(tmp_path / "x.png")]) == 1  # the model is invalid
    err = _one_error_line(capsys.readouterr().err, "predict")
    assert "layer 'relu_d1' (activation) has 0 inputs" in err


def test_a_huge_batch_allowed_by_make_updatable_is_refused_at_train_naming_the_option(
    tmp_path, capsys, monkeypatch
):
    source, model = tmp_path / "Classifier.mlmodel", tmp_path / "Updatable.mlmodel"
    updatable.save(builders.classifier_nn(), source)
    assert main(["make-updatable", str(source), str(model), "--batch-range", "1,2000000000"]) == 0
    data = tmp_path / "data.csv"
    data.write_text("a,b,c,d,label\n" + "1,0,0,0,cat\n0,1,0,0,dog\n" * 12)
    capsys.readouterr()
    monkeypatch.setenv("UPDATABLE_MEMORY_LIMIT", "1GB")
    assert main(["train", str(model), "--data", str(data), "--batch", "5000000"]) == 2
    err = _one_error_line(capsys.readouterr().err)
    assert err.startswith("updatable train: error: a mini-batch of 5000000 examples")
    assert "more than the bound of 1.0 GB (UPDATABLE_MEMORY_LIMIT=1GB)" in err
    assert err.rstrip().endswith("or less)") and "(pass --batch " in err
