"""Runtime, model layer: the engine of ``arrayFeatureExtractor`` models.

The values at ``extractIndex`` (zero-based, ``ArrayFeatureExtractor.proto``) of the input array,
read in row-major order, become the output: a multiArray of those values, or, with one index,
a Double or an Int64. An Int64 takes the value truncated toward zero, as a C++ cast does (Core
ML's converters extract whole numbers this way for one-hot encoding); a NaN or infinite value
has no Int64 and raises an error. Core ML does not check the indexes against the array's
length; the runtime does, when it compiles the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from runtime.model.engines.values import declared_width, only_output, output_value, require_valid
from updatable import proto
from updatable.errors import FeatureError, ValidationError

KIND = "arrayFeatureExtractor"


@dataclass(frozen=True)
class ArrayFeatureExtractorEngine:
    input_name: str
    indices: NDArray[np.intp]
    output: proto.FeatureDescription

    @classmethod
    def compile(cls, spec, *, parameters=None, base_dir=None) -> ArrayFeatureExtractorEngine:
        """Read an ``arrayFeatureExtractor`` that Core ML accepts (rules AE1-AE3).

        Raises:
            ValidationError: Core ML rejects the model, an index is past the input's declared
                length, or the output cannot hold the extracted values.
        """
        del parameters, base_dir  # no load-time parameters, no linked file
        require_valid(spec, KIND)
        feature = spec.description.input[0]
        indices = np.asarray(spec.arrayFeatureExtractor.extractIndex, dtype=np.intp)
        width = declared_width(feature)
        if width is not None and len(indices) and indices.max() >= width:
            raise ValidationError(
                f"{KIND}: extractIndex {int(indices.max())} is past the end of input "
                f"'{feature.name}' ({width} values)"
            )
        output = only_output(spec, KIND)
        if declared_width(output) not in (None, len(indices)):
            raise ValidationError(
                f"{KIND}: it extracts {len(indices)} values, but output '{output.name}' holds "
                f"{declared_width(output)}"
            )
        return cls(feature.name, indices, output)

    def run(self, batch: dict) -> dict:
        """Feature batch in, the extracted values out."""
        value = np.asarray(batch[self.input_name], dtype=np.float64)
        rows = value.reshape(len(value), -1)
        if len(self.indices) and self.indices.max() >= rows.shape[1]:
            raise FeatureError(
                f"{KIND}: input '{self.input_name}' holds {rows.shape[1]} values per example; "
                f"extractIndex reaches {int(self.indices.max())}"
            )
        extracted = rows[:, self.indices]
        if self.output.type.WhichOneof("Type") == "int64Type":
            bad = np.flatnonzero(~np.isfinite(extracted[:, 0]))
            if len(bad):
                lost = float(extracted[bad[0], 0])
                raise FeatureError(
                    f"{KIND}: example {int(bad[0])} extracts {lost!r}, which Int64 output "
                    f"'{self.output.name}' cannot hold"
                )
            extracted = np.trunc(extracted)
        return {self.output.name: output_value(self.output, extracted)}
