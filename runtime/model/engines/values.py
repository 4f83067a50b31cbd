"""Runtime, model layer: feature values of the classic model types (GLMs, SVMs, tree ensembles,
feature engineering): inputs read as numbers, outputs written in their declared types.

**Vectorized inputs.** A model that reads "vectorizable" inputs (Double, Int64, multiArray)
sees one row of numbers per example: each Double or Int64 input is one value, each multiArray
its values in row-major order, concatenated in the order of the model's description
(coremltools' tree builder: "feature indices ... are counted sequentially from 0 through the
features"). Rows are float64, the precision Core ML's classic models compute in. An optional
input that is absent reads as NaN (a missing value, which tree ensembles route by
``missingValueTracksTrueChild``); its width must then be declared.

**Outputs** come back in their declared types (the batch table of
``runtime.model.features``): Double ``(N,)`` float64, Int64 ``(N,)`` int64, String ``(N,)``
object, multiArray ``(N, *shape)`` in its declared data type (float64 for ``DOUBLE``, so that
a pipeline passes doubles between its classic stages without rounding them to float32).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from runtime.model.features import ARRAY_DTYPES, type_name
from updatable.errors import FeatureError, UnsupportedModelError, ValidationError
from updatable.validation import core_ml_issue

NUMBER_KINDS = ("doubleType", "int64Type", "multiArrayType")
# The most values a classic model may ask the runtime to hold per node, example or support
# vector (a tree's output dimensions, a vectorizer's width, a sparse vector's highest index):
# far beyond any real model, and small enough that a corrupt count fails here rather than in
# an allocation of terabytes.
MAX_VALUES = 10_000_000


def require_size(count: int, what: str, kind: str) -> None:
    """Refuse a size read from the model file that no real model has (``MAX_VALUES``)."""
    if count > MAX_VALUES:
        raise UnsupportedModelError(
            f"{kind}: {what} is {count}; the runtime runs models of up to {MAX_VALUES:,} "
            "(a larger count is almost certainly a corrupt file)"
        )


def require_valid(spec, kind: str) -> None:
    """Refuse a model that Core ML's validator rejects, with Core ML's rule id and message."""
    issue = core_ml_issue(spec)
    if issue is not None:
        raise ValidationError(
            f"this {kind} model is one Core ML rejects ({issue.code} at {issue.where}): "
            f"{issue.message}",
            [issue],
        )


def declared_width(feature) -> int | None:
    """Values one example of ``feature`` contributes to a row: 1 for a Double or Int64, the
    element count of a multiArray's declared shape (``None`` when it declares none)."""
    if feature.type.WhichOneof("Type") != "multiArrayType":
        return 1
    shape = [int(d) for d in feature.type.multiArrayType.shape]
    return int(np.prod(shape)) if shape else None


def batch_size(batch: Mapping, kind: str) -> int:
    """The number of examples in ``batch``: its ``count`` (a ``FeatureBatch``), else the length
    of any of its values (each holds one per example)."""
    count = getattr(batch, "count", None)
    if count is not None:
        return count
    for value in batch.values():
        return len(value)
    raise FeatureError(
        f"{kind}: none of its inputs is in the batch, so the number of examples is unknown; "
        "pass a FeatureBatch with its count"
    )


@dataclass(frozen=True)
class Vectorizer:
    """Reads the vectorizable inputs of a model as one float64 row per example."""

    kind: str  # the model type, for messages
    names: tuple[str, ...]
    widths: tuple[int | None, ...]
    optional: frozenset[str]

    @classmethod
    def of(cls, description, kind: str) -> Vectorizer:
        """The description's inputs, in order; each must be a Double, Int64 or multiArray.

        Raises:
            UnsupportedModelError: an input of another type (Core ML's validator checks this
                for GLMs and SVMs, never for tree ensembles).
        """
        for feature in description.input:
            if feature.type.WhichOneof("Type") not in NUMBER_KINDS:
                raise UnsupportedModelError(
                    f"{kind}: input '{feature.name}' is {type_name(feature)}; this model type "
                    "reads Double, Int64 and multiArray inputs"
                )
        return cls(
            kind,
            tuple(f.name for f in description.input),
            tuple(declared_width(f) for f in description.input),
            frozenset(f.name for f in description.input if f.type.isOptional),
        )

    @property
    def width(self) -> int | None:
        """Values per row, when every input declares its size."""
        known = [w for w in self.widths if w is not None]
        return sum(known) if len(known) == len(self.widths) else None

    def rows(self, batch: Mapping) -> NDArray[np.float64]:
        """``(N, width)`` float64: the inputs side by side; absent optional inputs are NaN."""
        count = batch_size(batch, self.kind)
        columns = []
        for name, width in zip(self.names, self.widths, strict=True):
            if name not in batch:
                if name not in self.optional or width is None:
                    raise FeatureError(f"{self.kind}: input '{name}' is missing from the batch")
                columns.append(np.full((count, width), np.nan))
                continue
            value = np.asarray(batch[name], dtype=np.float64).reshape(count, -1)
            if width is not None and value.shape[1] != width:
                raise FeatureError(
                    f"{self.kind}: input '{name}' holds {value.shape[1]} values per example; "
                    f"its description declares {width}"
                )
            columns.append(value)
        return np.concatenate(columns, axis=1) if len(columns) > 1 else columns[0]

    def check_width(self, expected: int, what: str) -> None:
        """Refuse at compile time when the declared inputs cannot give ``expected`` values."""
        if self.width is not None and self.width != expected:
            raise ValidationError(
                f"{self.kind}: {what} {expected} values per example, but its inputs "
                f"{list(self.names)} hold {self.width}"
            )


def array_dtype(feature) -> np.dtype:
    """The numpy type of a multiArray feature's declared data type (float64 when unset)."""
    array = feature.type.multiArrayType
    name = array.ArrayDataType.Name(array.dataType) if array.dataType else "DOUBLE"
    return np.dtype(ARRAY_DTYPES.get(name, np.float64))


def output_value(feature, values: NDArray):
    """``values`` ``(N, k)`` (or ``(N,)``) as the batched value of an output ``feature``.

    A Double or Int64 output takes one value per example; a multiArray output its declared
    shape (``(N, k)`` when it declares none).
    """
    kind = feature.type.WhichOneof("Type")
    values = np.asarray(values)
    if kind == "doubleType":
        return values.reshape(len(values)).astype(np.float64)
    if kind == "int64Type":
        return values.reshape(len(values)).astype(np.int64)
    shape = [int(d) for d in feature.type.multiArrayType.shape]
    return values.reshape(len(values), *(shape or [-1])).astype(array_dtype(feature))


def only_output(spec, kind: str, allowed=NUMBER_KINDS):
    """The one output of a model that writes one feature, of a type in ``allowed``."""
    outputs = spec.description.output
    if len(outputs) != 1 or outputs[0].type.WhichOneof("Type") not in allowed:
        raise UnsupportedModelError(
            f"{kind}: expected one output ({', '.join(allowed)}); the description declares "
            f"{[f'{f.name}: {type_name(f)}' for f in outputs]}"
        )
    return outputs[0]
