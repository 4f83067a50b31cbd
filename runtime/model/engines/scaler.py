"""Runtime, model layer: the engine of ``scaler`` models.

``f(x) = scaleValue * (x + shiftValue)`` (``Scaler.proto``), elementwise: a missing shift is 0,
a missing scale 1, and a single value applies to every element of an array. An Int64 input is
scaled as a double; an Int64 output takes the result only where it is a whole number (Core ML:
"If that cast is lossy, then an error is generated").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from runtime.model.engines.values import only_output, output_value, require_valid
from updatable import proto
from updatable.errors import FeatureError

KIND = "scaler"


@dataclass(frozen=True)
class ScalerEngine:
    input_name: str
    shift: NDArray[np.float64]  # () or (n,)
    scale: NDArray[np.float64]
    output: proto.FeatureDescription

    @classmethod
    def compile(cls, spec, *, parameters=None, base_dir=None) -> ScalerEngine:
        """Read a ``scaler`` that Core ML accepts (rules SC1-SC4).

        Raises:
            ValidationError: Core ML rejects the model.
        """
        del parameters, base_dir  # no load-time parameters, no linked file
        require_valid(spec, KIND)
        scaler = spec.scaler
        shift = np.asarray(scaler.shiftValue, dtype=np.float64)
        scale = np.asarray(scaler.scaleValue, dtype=np.float64)
        return cls(
            spec.description.input[0].name,
            shift if len(shift) > 1 else np.asarray(shift[0] if len(shift) else 0.0),
            scale if len(scale) > 1 else np.asarray(scale[0] if len(scale) else 1.0),
            only_output(spec, KIND),
        )

    def run(self, batch: dict) -> dict:
        """Feature batch in, the scaled feature out."""
        value = np.asarray(batch[self.input_name], dtype=np.float64)
        rows = value.reshape(len(value), -1)
        scaled = self.scale * (rows + self.shift)
        if self.output.type.WhichOneof("Type") == "int64Type":
            lossy = np.flatnonzero(scaled[:, 0] != np.round(scaled[:, 0]))
            if len(lossy):
                row = int(lossy[0])
                lost = float(scaled[row, 0])
                raise FeatureError(
                    f"{KIND}: example {row} scales to {lost!r}, which Int64 output "
                    f"'{self.output.name}' cannot hold without losing its fraction"
                )
        return {self.output.name: output_value(self.output, scaled)}
