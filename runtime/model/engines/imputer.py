"""Runtime, model layer: the engine of ``imputer`` models, which fill in missing values.

A value is missing (``Imputer.proto``) when the optional input is absent, or when it equals
the replace value: ``replaceDoubleValue`` / ``replaceInt64Value`` / ``replaceStringValue``
(a NaN replace value matches NaN). Without a replace value, NaN is the missing Double (the
proto's example) and an Int64 or String is missing only when absent. A missing value becomes:

* ``imputedDoubleValue``: that Double, for a Double input or every missing element of an array;
* ``imputedDoubleArray`` / ``imputedInt64Array``: for a missing array element, the value at its
  position;
* ``imputedInt64Value`` / ``imputedStringValue``: that value;
* ``imputedStringDictionary`` / ``imputedInt64Dictionary``: that dictionary, for an absent one.

An input absent from the batch is missing in every example of it (the batch's ``count`` says
how many); ``runtime.model.features.to_batch`` leaves an optional input out only when no example
has it, so within one batch a Double or array element is marked missing by NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from runtime.model.engines.values import batch_size, only_output, output_value, require_valid
from updatable import proto

KIND = "imputer"
_ANY = ("doubleType", "int64Type", "multiArrayType", "stringType", "dictionaryType")


@dataclass(frozen=True)
class ImputerEngine:
    input_name: str
    kind: str  # the input's (and output's) feature type
    imputed: Any  # a number, a string, an (n,) array or a dict
    replace: Any  # the replace value, or None
    output: proto.FeatureDescription

    @classmethod
    def compile(cls, spec, *, parameters=None, base_dir=None) -> ImputerEngine:
        """Read an ``imputer`` that Core ML accepts (rules IM1-IM5).

        Raises:
            ValidationError: Core ML rejects the model.
        """
        del parameters, base_dir  # no load-time parameters, no linked file
        require_valid(spec, KIND)
        imputer, feature = spec.imputer, spec.description.input[0]
        which = imputer.WhichOneof("ImputedValue")
        imputed = getattr(imputer, which)
        if which.endswith("Array"):
            imputed = np.asarray(imputed.vector, dtype=np.float64)
        elif which.endswith("Dictionary"):
            imputed = dict(imputed.map)
        replace = imputer.WhichOneof("ReplaceValue")
        return cls(
            feature.name,
            feature.type.WhichOneof("Type"),
            imputed,
            getattr(imputer, replace) if replace else None,
            only_output(spec, KIND, _ANY),
        )

    def missing(self, values: np.ndarray) -> np.ndarray:
        """Which of ``values`` (numbers or strings) are missing."""
        if self.kind in ("doubleType", "multiArrayType"):
            if self.replace is None or math.isnan(self.replace):
                return np.isnan(values)
            return values == self.replace
        if self.replace is None:
            return np.zeros(values.shape, dtype=bool)
        return values == self.replace

    def run(self, batch: dict) -> dict:
        """Feature batch in, the input with its missing values filled in out."""
        name = self.output.name
        if self.input_name not in batch:
            count = batch_size(batch, KIND)
            if isinstance(self.imputed, dict):
                return {name: [dict(self.imputed) for _ in range(count)]}
            if self.kind == "stringType":
                filled = np.empty(count, dtype=object)
                filled[:] = self.imputed
                return {name: filled}
            return {
                name: output_value(
                    self.output, np.broadcast_to(self.imputed, (count, *np.shape(self.imputed)))
                )
            }
        value = batch[self.input_name]
        if self.kind == "dictionaryType":
            return {name: list(value)}
        if self.kind == "stringType":
            filled = np.asarray(value, dtype=object).copy()
            filled[self.missing(filled)] = self.imputed
            return {name: filled}
        dtype = np.int64 if self.kind == "int64Type" else np.float64
        values = np.asarray(value, dtype=dtype)
        missing = self.missing(values)
        filled = np.where(missing, np.broadcast_to(self.imputed, values.shape[1:] or ()), values)
        return {name: output_value(self.output, filled)}
