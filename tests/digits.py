"""Real MNIST digits for tests, parsed here independently of :mod:`runtime.tools.datasets`.

The file is the one the package ships (``runtime/mnist/mnist_5k.csv.gz``: 5,000 digits,
500 per class, one row of 784 pixels and a label per image), read as float32 with numpy's
own parser so that the runtime's uint8 reader has something independent to agree with.
"""

from __future__ import annotations

import functools
import gzip
from pathlib import Path

import numpy as np

MNIST_FILE = Path(__file__).resolve().parents[1] / "runtime" / "mnist" / "mnist_5k.csv.gz"


@functools.lru_cache(maxsize=1)
def _mnist_table() -> np.ndarray:
    with gzip.open(MNIST_FILE, "rb") as handle:
        return np.loadtxt(handle, delimiter=",", dtype=np.float32)


def mnist_digits(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``count`` real 28x28 MNIST digits (float32 0..255, shape (count, 1, 28, 28)) and their
    labels, drawn without replacement from the 5,000 (500 per class) the file holds."""
    table = _mnist_table()
    rows = np.random.default_rng(seed).choice(len(table), count, replace=False)
    picked = table[rows]
    # one row per image: 784 pixel values, then the label
    return picked[:, :-1].reshape(count, 1, 28, 28).copy(), picked[:, -1].astype(np.int64)
