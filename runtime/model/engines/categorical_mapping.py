"""Runtime, model layer: the engine of ``categoricalMapping`` models (String <-> Int64).

Each input value goes through ``stringToInt64Map`` or ``int64ToStringMap``
(``CategoricalMapping.proto``); a value the map does not hold becomes ``int64Value`` /
``strValue`` when the model sets one, else raises an error. A sequence input maps element by
element into a sequence (a list per example).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runtime.model.engines.one_hot_encoder import positions
from runtime.model.engines.values import only_output, require_valid
from updatable import proto
from updatable.errors import FeatureError

KIND = "categoricalMapping"


@dataclass(frozen=True)
class CategoricalMappingEngine:
    input_name: str
    keys: list
    targets: np.ndarray  # the mapped values, aligned with keys
    default: object  # None: an unknown value is an error
    sequence: bool
    output: proto.FeatureDescription

    @classmethod
    def compile(cls, spec, *, parameters=None, base_dir=None) -> CategoricalMappingEngine:
        """Read a ``categoricalMapping`` that Core ML accepts (rules CM1-CM4).

        Raises:
            ValidationError: Core ML rejects the model.
        """
        del parameters, base_dir  # no load-time parameters, no linked file
        require_valid(spec, KIND)
        mapping = spec.categoricalMapping
        table = dict(getattr(mapping, mapping.WhichOneof("MappingType")).map)
        default = mapping.WhichOneof("ValueOnUnknown")
        to_strings = mapping.WhichOneof("MappingType") == "int64ToStringMap"
        targets = (
            np.empty(len(table), dtype=object) if to_strings else np.zeros(len(table), np.int64)
        )
        targets[:] = list(table.values())
        feature = spec.description.input[0]
        return cls(
            feature.name,
            list(table),
            targets,
            getattr(mapping, default) if default else None,
            feature.type.WhichOneof("Type") == "sequenceType",
            only_output(spec, KIND, ("stringType", "int64Type", "sequenceType")),
        )

    def mapped(self, values) -> np.ndarray:
        """The mapped value of each of ``values``."""
        found = positions(values, {key: i for i, key in enumerate(self.keys)})
        unknown = np.flatnonzero(found < 0)
        if len(unknown) and self.default is None:
            value = np.asarray(values, dtype=object)[unknown[0]]
            raise FeatureError(
                f"{KIND}: input '{self.input_name}' holds {value!r}, which the mapping does not "
                "hold, and the model sets no value for unknown inputs"
            )
        result = np.empty(len(found), dtype=self.targets.dtype)
        known = found >= 0
        result[known] = self.targets[found[known]]
        result[~known] = self.default
        return result

    def run(self, batch: dict) -> dict:
        """Feature batch in, the mapped feature out."""
        values = batch[self.input_name]
        if self.sequence:
            return {self.output.name: [self.mapped(list(items)).tolist() for items in values]}
        return {self.output.name: self.mapped(values)}
