"""Runtime, model layer: the engine of ``featureVectorizer`` models, which put several features
side by side in one array.

For each ``inputList`` entry, in order (``FeatureVectorizer.proto``), ``inputDimensions``
values of the named input go into the output: a Double or Int64 is one value, a multiArray its
values in row-major order, and a dictionary with Int64 keys a sparse vector, each value at the
position its key names (the form coremltools' converters give a ``dictVectorizer`` or sparse
``oneHotEncoder`` output) and zeros elsewhere. Inputs the list does not name are not read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runtime.model.engines.values import (
    array_dtype,
    batch_size,
    declared_width,
    only_output,
    require_size,
    require_valid,
)
from runtime.model.features import type_name
from updatable import proto
from updatable.errors import FeatureError, UnsupportedModelError, ValidationError

KIND = "featureVectorizer"


@dataclass(frozen=True)
class Column:
    """One ``inputList`` entry: the input's name, its type and how many values it gives."""

    name: str
    kind: str
    width: int


@dataclass(frozen=True)
class FeatureVectorizerEngine:
    columns: tuple[Column, ...]
    output: proto.FeatureDescription

    @classmethod
    def compile(cls, spec, *, parameters=None, base_dir=None) -> FeatureVectorizerEngine:
        """Read a ``featureVectorizer`` that Core ML accepts (rules FV1-FV3).

        Raises:
            ValidationError: Core ML rejects the model, or a column's width does not fit its
                input or the widths do not add up to the output's.
            UnsupportedModelError: a dictionary with String keys (no positions to place its
                values at).
        """
        del parameters, base_dir  # no load-time parameters, no linked file
        require_valid(spec, KIND)
        inputs = {f.name: f for f in spec.description.input}
        columns = tuple(_column(entry, inputs) for entry in spec.featureVectorizer.inputList)
        output = only_output(spec, KIND, ("multiArrayType",))
        total, declared = sum(c.width for c in columns), declared_width(output)
        require_size(total, "the output width", KIND)
        if declared is not None and declared != total:
            raise ValidationError(
                f"{KIND}: its columns give {total} values, but output '{output.name}' is "
                f"declared with {declared}"
            )
        return cls(columns, output)

    def run(self, batch: dict) -> dict:
        """Feature batch in, ``{output: (N, total)}`` out, in the output's declared type."""
        count = batch_size(batch, KIND)
        parts = [_values(column, batch[column.name], count) for column in self.columns]
        values = np.concatenate(parts, axis=1) if parts else np.zeros((count, 0))
        shape = [int(d) for d in self.output.type.multiArrayType.shape] or [values.shape[1]]
        return {self.output.name: values.reshape(count, *shape).astype(array_dtype(self.output))}


def _column(entry, inputs: dict) -> Column:
    feature = inputs.get(entry.inputColumn)
    if feature is None:
        raise ValidationError(
            f"{KIND}: inputList names '{entry.inputColumn}', which is not one of its inputs "
            f"{sorted(inputs)}"
        )
    kind, width = feature.type.WhichOneof("Type"), int(entry.inputDimensions)
    if kind == "dictionaryType":
        if feature.type.dictionaryType.WhichOneof("KeyType") != "int64KeyType":
            raise UnsupportedModelError(
                f"{KIND}: input '{feature.name}' is {type_name(feature)} with String keys; a "
                "dictionary is placed by its Int64 keys (positions), so only Int64 keys work"
            )
    elif declared_width(feature) not in (None, width):
        raise ValidationError(
            f"{KIND}: inputList gives '{feature.name}' {width} values, but it is "
            f"{type_name(feature)} ({declared_width(feature)} values)"
        )
    return Column(feature.name, kind, width)


def _values(column: Column, value, count: int) -> np.ndarray:
    if column.kind != "dictionaryType":
        values = np.asarray(value, dtype=np.float64).reshape(count, -1)
        if values.shape[1] != column.width:
            raise FeatureError(
                f"{KIND}: input '{column.name}' holds {values.shape[1]} values per example; its "
                f"inputList entry says {column.width}"
            )
        return values
    values = np.zeros((count, column.width))
    for row, mapping in enumerate(value):
        keys = np.fromiter(mapping.keys(), dtype=np.int64, count=len(mapping))
        outside = keys[(keys < 0) | (keys >= column.width)]
        if len(outside):
            raise FeatureError(
                f"{KIND}: input '{column.name}' in example {row} has key {int(outside[0])}; its "
                f"keys are positions 0 to {column.width - 1}"
            )
        values[row, keys] = np.fromiter(mapping.values(), dtype=np.float64, count=len(mapping))
    return values
