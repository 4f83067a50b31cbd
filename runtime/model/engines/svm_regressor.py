"""Runtime, model layer: the engine of ``supportVectorRegressor`` models (libsvm's epsilon-SVR
and nu-SVR).

With the inputs vectorized into ``x`` (``values``): ``y = sum_m alpha_m K(x, s_m) - rho``
(``SVM.proto``; libsvm's ``svm_predict`` for a regression model), the Double
``predictedFeatureName``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from runtime.model.engines.svm_kernels import Kernel, fitted, support_vectors
from runtime.model.engines.values import Vectorizer, only_output, output_value, require_valid
from updatable import proto

KIND = "supportVectorRegressor"


@dataclass(frozen=True)
class SvmRegressorEngine:
    """A compiled SVM regressor."""

    inputs: Vectorizer
    kernel: Kernel
    vectors: NDArray[np.float64]
    sparse: bool
    alphas: NDArray[np.float64]
    rho: float
    output: proto.FeatureDescription

    @classmethod
    def compile(cls, spec, *, parameters=None, base_dir=None) -> SvmRegressorEngine:
        """Read a ``supportVectorRegressor`` that Core ML accepts (rules SR1-SR5).

        Raises:
            ValidationError: Core ML rejects the model, or its support vectors do not fit the
                inputs.
            UnsupportedModelError: outputs other than the one prediction.
        """
        del parameters, base_dir  # an SVM has no load-time parameters and links no file
        require_valid(spec, KIND)
        svm = spec.supportVectorRegressor
        inputs = Vectorizer.of(spec.description, KIND)
        return cls(
            inputs,
            Kernel.of(svm.kernel),
            support_vectors(svm, inputs.width, KIND),
            svm.WhichOneof("supportVectors") == "sparseSupportVectors",
            np.asarray(svm.coefficients.alpha, dtype=np.float64),
            float(svm.rho),
            only_output(spec, KIND, ("doubleType",)),
        )

    def run(self, batch: dict) -> dict:
        """Feature batch in, ``{predictedFeatureName: (N,) float64}`` out."""
        rows = fitted(self.inputs.rows(batch), self.vectors, sparse=self.sparse, kind=KIND)
        with np.errstate(invalid="ignore", over="ignore"):  # infinite kernels give NaN, quietly
            values = self.kernel.matrix(rows, self.vectors) @ self.alphas - self.rho
        return {self.output.name: output_value(self.output, values)}
