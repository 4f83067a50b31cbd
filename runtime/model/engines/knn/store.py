"""Runtime, model layer: the growable sample store of a kNN classifier: points, squared norms and
label codes.

A kNN update appends examples after the existing samples, in batch-provider order, and never
removes any (docs/update-task-semantics.md §9). Apps usually add one example at a time, so the
store grows its buffers by doubling: ``n`` single appends cost O(n) copies in total and
O(log n) reallocations (``reallocations_`` counts them), never a copy of everything per
append. Views returned by :attr:`points`, :attr:`norms` and :attr:`codes` stay valid until the
next append that reallocates.

Labels are kept as integer codes into :attr:`labels`, the distinct label values in order of
first appearance, so voting works on small integers whatever the label type.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from runtime.kernels import memory
from runtime.kernels.knn import JIT

_MIN_CAPACITY = 16


class SampleStore:
    """Samples ``(count, dimensions)`` float32, their float64 squared norms and label codes.

    Args:
        dimensions: ``numberOfDimensions`` of the model.
        label_type: ``str`` (String labels) or ``int`` (Int64 labels).
    """

    def __init__(self, dimensions: int, label_type: type):
        self.dimensions = dimensions
        self.label_type = label_type
        self.count = 0
        self.reallocations_ = 0
        self.labels: list = []
        self._code_of: dict = {}
        self._points = np.empty((0, dimensions), np.float32)
        self._norms = np.empty(0, np.float64)
        self._codes = np.empty(0, np.int64)

    @property
    def capacity(self) -> int:
        return len(self._points)

    @property
    def points(self) -> NDArray[np.float32]:
        """The samples in insertion order, a C-contiguous ``(count, dimensions)`` view."""
        return self._points[: self.count]

    @property
    def norms(self) -> NDArray[np.float64]:
        """``||y||^2`` of every sample, accumulated in float64."""
        return self._norms[: self.count]

    @property
    def codes(self) -> NDArray[np.int64]:
        """The label code of every sample (an index into :attr:`labels`)."""
        return self._codes[: self.count]

    def label_values(self, codes: NDArray[np.int64] | None = None) -> list:
        """The label of every sample (or of the given codes) as Python ``str`` or ``int``."""
        codes = self.codes if codes is None else codes
        return [self.labels[code] for code in codes.tolist()]

    def append(self, points: NDArray, labels: Sequence) -> None:
        """Append ``points`` ``(m, dimensions)`` with their ``m`` labels, after the samples.

        The caller has validated shapes and label types (``runtime.training.knn_update``); this only
        checks the invariants that would corrupt the store.
        """
        points = np.asarray(points, dtype=np.float32)
        if points.ndim != 2 or points.shape[1] != self.dimensions:
            raise ValueError(f"expected points of shape (m, {self.dimensions}), got {points.shape}")
        if len(labels) != len(points):
            raise ValueError(f"got {len(points)} points but {len(labels)} labels")
        added = len(points)
        if added == 0:
            return
        self._reserve(self.count + added)
        stop = self.count + added
        self._points[self.count : stop] = points
        self._norms[self.count : stop] = JIT["sq_norms"](self._points[self.count : stop])
        self._codes[self.count : stop] = [self._code(label) for label in labels]
        self.count = stop

    def _code(self, label) -> int:
        label = self.label_type(label)
        code = self._code_of.get(label)
        if code is None:
            code = self._code_of[label] = len(self.labels)
            self.labels.append(label)
        return code

    def _reserve(self, needed: int) -> None:
        if needed <= self.capacity:
            return
        # Doubling keeps n single appends at O(log n) reallocations and O(n) copied rows.
        capacity = max(needed, 2 * self.capacity, _MIN_CAPACITY)
        row = 4 * self.dimensions + 16  # float32 point, float64 norm, int64 code
        memory.check(
            f"a kNN store of {capacity} samples of {self.dimensions} dimensions",
            capacity * row + self.count * row,  # the new buffers while the old are copied
            "keep fewer samples in one model, or reduce the embedding's dimensions",
        )
        points = np.empty((capacity, self.dimensions), np.float32)
        norms = np.empty(capacity, np.float64)
        codes = np.empty(capacity, np.int64)
        points[: self.count] = self.points
        norms[: self.count] = self.norms
        codes[: self.count] = self.codes
        self._points, self._norms, self._codes = points, norms, codes
        self.reallocations_ += 1
