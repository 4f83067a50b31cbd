"""Runtime, sweeps layer: where a sweep's examples come from: a named digits set, an ``.npz`` file,
or arrays.

``load_examples(source)`` accepts

* ``"mnist"`` or ``"digits"`` (the 5,000 real MNIST digits shipped with the package) or
  ``"sklearn"`` (scikit-learn's 1,797 digits at 28x28), all read by
  :mod:`runtime.tools.datasets`: ``(N, 28, 28)`` pixels 0..255;
* a path to an ``.npz`` file holding arrays ``x`` (one example per row, any shape) and ``y``
  (labels: integers or strings for classification, arrays for regression);
* an ``(x, y)`` pair of arrays, or an :class:`Examples`.

A ``:scale=F`` suffix multiplies the pixel values (``mnist:scale=1/255`` for a model whose
multiArray input expects 0..1; image inputs take 0..255 and scale themselves).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from updatable.errors import ModelFileError, SweepError

NAMED_SOURCES = {"mnist": "mnist", "sklearn": "sklearn", "digits": "auto"}


@dataclass(frozen=True)
class Examples:
    """A labelled data set: ``x`` ``(N, ...)`` inputs, ``y`` ``(N,)`` labels (or ``(N, ...)``
    regression targets); ``name`` for reports; ``identity`` changes whenever the data does
    (it is part of a sweep's fingerprint)."""

    x: np.ndarray
    y: np.ndarray
    name: str
    identity: str

    def __len__(self) -> int:
        return len(self.y)

    @property
    def is_classification(self) -> bool:
        """Labels are scalars (integers or strings), not target arrays."""
        return self.y.ndim == 1 and (self.y.dtype.kind in "iuUSO")


def load_examples(source) -> Examples:
    """Read ``source`` (see the module docstring).

    Raises:
        SweepError: an unknown name, a bad scale, or ``x``/``y`` of different lengths.
        ModelFileError: an ``.npz`` file that cannot be read or lacks ``x`` / ``y``.
    """
    if isinstance(source, Examples):
        return source
    if isinstance(source, tuple) and len(source) == 2:
        x, y = (np.asarray(a) for a in source)
        return _checked(x, y, "arrays", _digest(x, y))
    text = str(source)
    base, _, option = text.partition(":scale=")
    scale = _scale(option, text) if option else None
    if base in NAMED_SOURCES:
        from runtime.tools.datasets import load_digits

        digits = load_digits(NAMED_SOURCES[base])
        examples = _checked(digits.images, digits.labels, digits.source, f"{base}:{digits.source}")
    elif base.endswith(".npz") or Path(base).is_file():
        examples = _read_npz(Path(base))
    else:
        raise SweepError(
            f"unknown data source {text!r}; expected one of {sorted(NAMED_SOURCES)} or an .npz "
            "file with arrays 'x' and 'y' (optionally followed by ':scale=F')"
        )
    if scale is None:
        return examples
    x = examples.x.astype(np.float32) * np.float32(scale)
    return Examples(
        x, examples.y, f"{examples.name} x {scale:g}", f"{examples.identity}:scale={scale!r}"
    )


def _read_npz(path: Path) -> Examples:
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = sorted(archive.files)
            if "x" not in keys or "y" not in keys:
                raise ModelFileError(
                    f"{path}: a sweep's .npz needs arrays 'x' (examples) and 'y' (labels); "
                    f"it has {keys}"
                )
            x, y = archive["x"], archive["y"]
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{path}: not a readable .npz file ({exc})") from None
    return _checked(x, y, path.name, f"npz:{_digest(x, y)}")


def _checked(x: np.ndarray, y: np.ndarray, name: str, identity: str) -> Examples:
    if len(x) != len(y):
        raise SweepError(f"data {name}: x has {len(x)} examples but y has {len(y)} labels")
    if len(x) == 0:
        raise SweepError(f"data {name}: no examples")
    return Examples(x, y, name, identity)


def _digest(x: np.ndarray, y: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in (x, y):
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def _scale(text: str, source: str) -> float:
    try:
        value = float(Fraction(text.strip()))
    except (ValueError, ZeroDivisionError):
        raise SweepError(
            f"data {source!r}: scale must be a number or a fraction like 1/255; got {text!r}"
        ) from None
    if not np.isfinite(value) or value <= 0:
        raise SweepError(f"data {source!r}: scale must be positive; got {text!r}")
    return value
