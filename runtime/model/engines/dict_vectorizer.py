"""Runtime, model layer: the engine of ``dictVectorizer`` models.

Each key of the input dictionary goes to its position in ``stringToIndex`` / ``int64ToIndex``
(``DictVectorizer.proto``; a key listed twice takes its first position), with its value. Core
ML's validator wants a dictionary output: the result is a sparse vector ``{position: value}``
with Int64 keys (what coremltools' converter feeds to a ``featureVectorizer``, which lays it
out densely with zeros for the keys not given). "All keys in the input dictionary must be
present in the index mapping": a key that is not raises an error.
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.model.engines.values import only_output, require_valid
from runtime.model.features import type_name
from updatable import proto
from updatable.errors import FeatureError, UnsupportedModelError

KIND = "dictVectorizer"


@dataclass(frozen=True)
class DictVectorizerEngine:
    input_name: str
    index: dict  # key -> position
    output: proto.FeatureDescription

    @classmethod
    def compile(cls, spec, *, parameters=None, base_dir=None) -> DictVectorizerEngine:
        """Read a ``dictVectorizer`` that Core ML accepts (rules DV1-DV3).

        Raises:
            ValidationError: Core ML rejects the model.
            UnsupportedModelError: an output dictionary keyed by String.
        """
        del parameters, base_dir  # no load-time parameters, no linked file
        require_valid(spec, KIND)
        vectorizer = spec.dictVectorizer
        keys = list(getattr(vectorizer, vectorizer.WhichOneof("Map")).vector)
        output = only_output(spec, KIND, ("dictionaryType",))
        if output.type.dictionaryType.WhichOneof("KeyType") != "int64KeyType":
            raise UnsupportedModelError(
                f"{KIND}: output '{output.name}' must be a dictionary keyed by Int64 positions; "
                f"got {type_name(output)} with String keys"
            )
        index: dict = {}
        for position, key in enumerate(keys):
            index.setdefault(key, position)
        return cls(spec.description.input[0].name, index, output)

    def run(self, batch: dict) -> dict:
        """Feature batch in, ``{position: value}`` per example out."""
        result = []
        for row, mapping in enumerate(batch[self.input_name]):
            unknown = [key for key in mapping if key not in self.index]
            if unknown:
                raise FeatureError(
                    f"{KIND}: input '{self.input_name}' in example {row} has key {unknown[0]!r}, "
                    f"which its index mapping does not list ({len(self.index)} keys)"
                )
            result.append({self.index[key]: float(value) for key, value in mapping.items()})
        return {self.output.name: result}
