"""Runtime, tools layer: handwritten digits that need no download: 5,000 real MNIST digits
shipped with the package.

``runtime/mnist/mnist_5k.csv.gz`` holds 5,000 real MNIST digits, 500 per class, sorted by
class, one row per image (784 pixel values 0..255 in row-major order, then the label); its
provenance and licence are in ``runtime/mnist/README.md``. :func:`load_mnist` reads it with
numpy, from the installed package's own directory.

:func:`load_sklearn_digits` offers scikit-learn's ``load_digits`` (1,797 8x8 digits with 17
grey levels, bundled with scikit-learn) instead, scaled to 0..255 and resized to 28x28 with
pillow so that the same models accept them. Both sources give white strokes on a black
background, like MNIST.
"""

from __future__ import annotations

import functools
import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from updatable.errors import MissingDependencyError, ModelFileError, ParameterError

MNIST_FILE = ("mnist", "mnist_5k.csv.gz")  # package data of ``runtime``
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
    """The MNIST file shipped inside the ``runtime`` package.

    Raises:
        ModelFileError: the file is missing (an incomplete install: reinstall the package).
    """
    path = Path(__file__).resolve().parents[1].joinpath(*MNIST_FILE)
    if not path.is_file():
        raise ModelFileError(
            f"the MNIST digits that ship with coreml-updatable are missing (looked at {path}); "
            "reinstall the package (`pip install --force-reinstall coreml-updatable`)"
        )
    return path


def load_mnist(path: str | Path | None = None) -> Digits:
    """The 5,000 shipped MNIST digits (or those of a file in the same format at ``path``)."""
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
    return Digits(
        images, labels, f"MNIST, {len(labels):,} real digits shipped with coreml-updatable"
    )


def load_sklearn_digits(size: int = IMAGE_SIZE) -> Digits:
    """scikit-learn's 1,797 8x8 digits as ``size`` x ``size`` uint8 images.

    The 17 grey levels (0..16) are scaled to 0..255, then each image is resized with pillow's
    bilinear filter, as :mod:`runtime.model.images` resizes image features.
    """
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError:
        raise MissingDependencyError(
            "scikit-learn's digits need scikit-learn, which is not installed; install it "
            "(`pip install scikit-learn`) or use the MNIST digits that ship with the package "
            "(source 'mnist')"
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
    """Digits from ``source``: ``"mnist"`` or ``"auto"`` (the shipped MNIST digits), or
    ``"sklearn"`` (scikit-learn's 8x8 digits, resized).

    Raises:
        ParameterError: an unknown ``source``.
        MissingDependencyError: ``"sklearn"`` without scikit-learn installed.
    """
    if source not in SOURCES:
        raise ParameterError(f"unknown digits source {source!r}; choose one of {list(SOURCES)}")
    if source == "sklearn":
        return load_sklearn_digits()
    return load_mnist()
