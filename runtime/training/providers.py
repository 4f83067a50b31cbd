"""Runtime, training layer: training data: Core ML's ``MLBatchProvider`` / ``MLArrayBatchProvider``
in Python.

A provider has ``count`` and ``features(index) -> dict`` (feature name -> value). Values are
what ``Model.predict`` accepts: numpy arrays for multi-arrays, str / int for labels, and for
image features a pillow image, a file path or an array. ``features`` is called lazily, batch by
batch, every epoch (as Core ML does), so a subclass can load files on demand or augment data on
the fly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from updatable.errors import UpdatableError


class BatchProviderError(UpdatableError, ValueError):
    """A batch provider that cannot be built or that returns unusable data."""


class BatchProvider:
    """Subclass and implement ``count`` and ``features(index)`` (``MLBatchProvider``)."""

    @property
    def count(self) -> int:
        raise NotImplementedError

    def features(self, index: int) -> Mapping[str, Any]:
        raise NotImplementedError

    def __len__(self) -> int:
        return self.count


class ArrayBatchProvider(BatchProvider):
    """Examples held in memory (``MLArrayBatchProvider``).

    ``ArrayBatchProvider([{"image": x0, "label": "a"}, ...])`` takes a list of feature dicts;
    ``ArrayBatchProvider({"image": xs, "label": labels})`` takes equal-length columns (an
    ndarray column is split along its first axis).
    """

    def __init__(self, examples: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]):
        if isinstance(examples, Mapping):
            columns: dict[str, Sequence[Any]] = dict(examples.items())
            self._columns: dict[str, Sequence[Any]] | None = columns
            lengths = {name: len(column) for name, column in columns.items()}
            if len(set(lengths.values())) > 1:
                raise BatchProviderError(
                    f"ArrayBatchProvider columns must have equal lengths, got {lengths}"
                )
            self._count = next(iter(lengths.values()), 0)
            self._rows = None
        else:
            rows = list(examples)
            for index, row in enumerate(rows):
                if not isinstance(row, Mapping):
                    raise BatchProviderError(
                        f"ArrayBatchProvider example {index} must be a dict of features, "
                        f"got {type(row).__name__}"
                    )
            self._rows = rows
            self._columns = None
            self._count = len(rows)

    @property
    def count(self) -> int:
        return self._count

    def features(self, index: int) -> Mapping[str, Any]:
        if not 0 <= index < self._count:
            raise IndexError(f"example index {index} out of range [0, {self._count})")
        if self._rows is not None:
            return self._rows[index]
        assert self._columns is not None, "a provider holds rows or columns"
        return {name: column[index] for name, column in self._columns.items()}
