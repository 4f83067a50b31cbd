"""Runtime, model layer: the engine of ``glmRegressor`` models (linear, logistic or probit
regression).

With the inputs vectorized into ``x`` (``values``): ``y = g(w . x + offset)``, with ``g`` the
identity (``NoTransform``), the logistic function (``Logit``) or the normal CDF (``Probit``)
(``GLMRegressor.proto``). The output is the Double ``predictedFeatureName``.

Core ML's validator lets a GLM regressor hold several weight vectors, but nothing documents how
their values would map onto its Double outputs; the runtime runs models with one, and refuses
others when it compiles them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from runtime.model.engines.links import logistic, probit
from runtime.model.engines.values import Vectorizer, output_value, require_valid
from updatable import proto
from updatable.errors import FeatureError, UnsupportedModelError

KIND = "glmRegressor"
_LINKS = {
    proto.Model_pb2.GLMRegressor.NoTransform: lambda s: s,
    proto.Model_pb2.GLMRegressor.Logit: logistic,
    proto.Model_pb2.GLMRegressor.Probit: probit,
}


@dataclass(frozen=True)
class GlmRegressorEngine:
    """A compiled GLM regressor: one weight vector, its offset and its transform."""

    inputs: Vectorizer
    weights: NDArray[np.float64]
    offset: float
    link: Callable[[NDArray[np.float64]], NDArray[np.float64]]
    output: proto.FeatureDescription  # the FeatureDescription of the prediction

    @classmethod
    def compile(cls, spec, *, parameters=None, base_dir=None) -> GlmRegressorEngine:
        """Read a ``glmRegressor`` that Core ML accepts (rules GR1-GR5).

        Raises:
            ValidationError: Core ML rejects the model, or its weights are not as long as its
                vectorized inputs.
            UnsupportedModelError: no weight vector or several, an unknown transform, or an
                output other than the prediction.
        """
        del parameters, base_dir  # a GLM has no load-time parameters and links no file
        require_valid(spec, KIND)
        glm = spec.glmRegressor
        if len(glm.weights) != 1:
            raise UnsupportedModelError(
                f"{KIND}: the runtime runs a GLM regressor with one weight vector; this one has "
                f"{len(glm.weights)} (no source documents how several map onto Double outputs)"
            )
        if glm.postEvaluationTransform not in _LINKS:
            raise UnsupportedModelError(
                f"{KIND}: postEvaluationTransform {glm.postEvaluationTransform} is not one of "
                "NoTransform (0), Logit (1), Probit (2)"
            )
        outputs = spec.description.output
        if len(outputs) != 1:
            raise UnsupportedModelError(
                f"{KIND}: it produces one value, '{spec.description.predictedFeatureName}'; the "
                f"description declares outputs {[f.name for f in outputs]}"
            )
        weights = np.asarray(glm.weights[0].value, dtype=np.float64)
        inputs = Vectorizer.of(spec.description, KIND)
        inputs.check_width(len(weights), "its weights hold")
        return cls(
            inputs, weights, float(glm.offset[0]), _LINKS[glm.postEvaluationTransform], outputs[0]
        )

    def run(self, batch: dict) -> dict:
        """Feature batch in, ``{predictedFeatureName: (N,) float64}`` out."""
        rows = self.inputs.rows(batch)
        if rows.shape[1] != len(self.weights):
            raise FeatureError(
                f"{KIND}: the inputs hold {rows.shape[1]} values per example; its weights hold "
                f"{len(self.weights)}"
            )
        values = self.link(rows @ self.weights + self.offset)
        return {self.output.name: output_value(self.output, values)}
