"""Runtime, model layer: the engine of ``normalizer`` models.

Each example's array ``x`` is divided by its norm ``z`` (``Normalizer.proto``): ``L1``
``z = sum_i |x_i|``, ``L2`` ``z = sqrt(sum_i x_i^2)``, ``LMax`` ``z = max_i x_i``. LMax is the
largest *value*, as the proto writes it, not the largest magnitude (scikit-learn's ``"max"``
norm divides by ``max_i |x_i|``: the two differ for an example whose largest magnitude is
negative). An example whose norm is 0 is left as it is (Core ML does not say; scikit-learn
leaves it too).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from runtime.model.engines.values import array_dtype, only_output, require_valid
from updatable import proto

KIND = "normalizer"
_NORM = proto.Model_pb2.Normalizer
NORMS = {
    _NORM.L1: lambda x: np.abs(x).sum(axis=1),
    _NORM.L2: lambda x: np.sqrt((x**2).sum(axis=1)),
    _NORM.LMax: lambda x: x.max(axis=1),
}


@dataclass(frozen=True)
class NormalizerEngine:
    input_name: str
    norm: Callable[[NDArray[np.float64]], NDArray[np.float64]]
    output: proto.FeatureDescription

    @classmethod
    def compile(cls, spec, *, parameters=None, base_dir=None) -> NormalizerEngine:
        """Read a ``normalizer`` that Core ML accepts (rules NO1-NO3).

        Raises:
            ValidationError: Core ML rejects the model.
        """
        del parameters, base_dir  # no load-time parameters, no linked file
        require_valid(spec, KIND)
        output = only_output(spec, KIND, ("multiArrayType",))
        return cls(spec.description.input[0].name, NORMS[spec.normalizer.normType], output)

    def run(self, batch: dict) -> dict:
        """Feature batch in, the normalized array out (the input's shape, the output's type)."""
        value = np.asarray(batch[self.input_name], dtype=np.float64)
        rows = value.reshape(len(value), -1)
        norms = self.norm(rows) if rows.shape[1] else np.zeros(len(rows))
        scaled = rows / np.where(norms == 0.0, 1.0, norms)[:, None]
        return {self.output.name: scaled.reshape(value.shape).astype(array_dtype(self.output))}
