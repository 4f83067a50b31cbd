"""Runtime, model layer: the engine of ``oneHotEncoder`` models.

A category (String or Int64) becomes a vector of zeros with a single one, at the position of
the category in ``stringCategories`` / ``int64Categories`` (``OneHotEncoder.proto``; a
category listed twice takes its first position). The output is a multiArray of one value per
category, or with ``outputSparse`` a dictionary ``{position: 1.0}`` with Int64 keys. An unknown
category raises an error (``ErrorOnUnknown``) or gives all zeros, an empty dictionary when
sparse (``IgnoreUnknown``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runtime.model.engines.values import array_dtype, declared_width, only_output, require_valid
from runtime.model.features import type_name
from updatable import proto
from updatable.errors import FeatureError, UnsupportedModelError, ValidationError

KIND = "oneHotEncoder"
_IGNORE = proto.Model_pb2.OneHotEncoder.IgnoreUnknown


def positions(values, index: dict) -> np.ndarray:
    """The position of each value in ``index`` (-1 when absent): one lookup per distinct value,
    then a gather over the batch."""
    values = np.asarray(values)
    if not len(values):
        return np.zeros(0, dtype=np.intp)
    distinct, inverse = np.unique(values, return_inverse=True)
    found = np.array([index.get(value, -1) for value in distinct.tolist()], dtype=np.intp)
    return found[inverse.reshape(-1)]


@dataclass(frozen=True)
class OneHotEncoderEngine:
    input_name: str
    index: dict  # category -> position
    size: int
    ignore_unknown: bool
    output: proto.FeatureDescription

    @classmethod
    def compile(cls, spec, *, parameters=None, base_dir=None) -> OneHotEncoderEngine:
        """Read a ``oneHotEncoder`` that Core ML accepts (rules OH1-OH3).

        Raises:
            ValidationError: Core ML rejects the model, its categories do not have its input's
                type, or its dense output is not one value per category.
            UnsupportedModelError: a sparse output keyed by String.
        """
        del parameters, base_dir  # no load-time parameters, no linked file
        require_valid(spec, KIND)
        encoder = spec.oneHotEncoder
        which = encoder.WhichOneof("CategoryType")
        categories = list(getattr(encoder, which).vector)
        feature = spec.description.input[0]
        wanted = "stringType" if which == "stringCategories" else "int64Type"
        if feature.type.WhichOneof("Type") != wanted:
            raise ValidationError(
                f"{KIND}: its categories are {which} but input '{feature.name}' is "
                f"{type_name(feature)}"
            )
        output = only_output(spec, KIND, ("dictionaryType", "multiArrayType"))
        if encoder.outputSparse:
            if output.type.dictionaryType.WhichOneof("KeyType") != "int64KeyType":
                raise UnsupportedModelError(
                    f"{KIND}: sparse output '{output.name}' must be a dictionary keyed by Int64 "
                    f"positions; got {type_name(output)} with String keys"
                )
        elif declared_width(output) not in (None, len(categories)):
            raise ValidationError(
                f"{KIND}: output '{output.name}' is declared with {declared_width(output)} "
                f"values, one per category would be {len(categories)}"
            )
        index: dict = {}
        for position, category in enumerate(categories):
            index.setdefault(category, position)
        return cls(feature.name, index, len(categories), encoder.handleUnknown == _IGNORE, output)

    def run(self, batch: dict) -> dict:
        """Feature batch in, the one-hot output out."""
        values = batch[self.input_name]
        found = positions(values, self.index)
        unknown = np.flatnonzero(found < 0)
        if len(unknown) and not self.ignore_unknown:
            row = int(unknown[0])
            value = np.asarray(values).tolist()[row]
            raise FeatureError(
                f"{KIND}: input '{self.input_name}' in example {row} is {value!r}, which is not "
                f"one of its {self.size} categories (the model errors on unknown values)"
            )
        if self.output.type.WhichOneof("Type") == "dictionaryType":
            return {self.output.name: [{int(p): 1.0} if p >= 0 else {} for p in found.tolist()]}
        dense = np.zeros((len(found), self.size))
        known = found >= 0
        dense[np.flatnonzero(known), found[known]] = 1.0
        shape = [int(d) for d in self.output.type.multiArrayType.shape] or [self.size]
        return {
            self.output.name: dense.reshape(len(found), *shape).astype(array_dtype(self.output))
        }
