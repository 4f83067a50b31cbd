"""Runtime, model layer: the engine of ``glmClassifier`` models (generalized linear classifiers:
logistic or probit regression, binary, one-vs-rest or multinomial).

With the inputs vectorized into ``x`` (``values``) and one score per weight row,
``s_r = w_r . x + offset_r`` (``GLMClassifier.proto``), the class probabilities are:

* **two classes** (one weight row, either encoding): ``p(labels[1]) = g(s_0)`` and
  ``p(labels[0]) = 1 - g(s_0)``, with ``g`` the logistic function (``Logit``) or the normal
  CDF (``Probit``, only allowed here);
* **OneVsRest**, K > 2 classes, K rows: ``p_k = g(s_k) / sum_j g(s_j)``, each class scored
  against the rest and the scores normalized (what scikit-learn's one-vs-rest logistic
  regression predicts, and what coremltools' converter tests check Core ML against);
* **ReferenceClass**, K > 2 classes, K - 1 rows: the first class is the reference with score
  0, ``p = softmax(0, s_0, ..., s_{K-2})`` (multinomial logistic regression with a reference
  class; Core ML only says "First class is the reference class", this is its standard meaning).

The label is the class with the highest probability, the first in label order on a tie.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from runtime.model.engines.classes import ClassOutputs, class_labels
from runtime.model.engines.links import logistic, probit, softmax
from runtime.model.engines.values import Vectorizer, require_valid
from updatable import proto
from updatable.errors import FeatureError

KIND = "glmClassifier"
_GLM = proto.Model_pb2.GLMClassifier


@dataclass(frozen=True)
class GlmClassifierEngine:
    """A compiled GLM classifier: weights ``(R, D)``, offsets ``(R,)``, and how to read them."""

    inputs: Vectorizer
    weights: NDArray[np.float64]
    offsets: NDArray[np.float64]
    probit: bool
    reference_class: bool
    outputs: ClassOutputs

    @classmethod
    def compile(cls, spec, *, parameters=None, base_dir=None) -> GlmClassifierEngine:
        """Read a ``glmClassifier`` that Core ML accepts (rules GC1-GC9).

        Raises:
            ValidationError: Core ML rejects the model, or its weight rows are not as long as
                its vectorized inputs.
            UnsupportedModelError: an output the classifier does not produce.
        """
        del parameters, base_dir  # a GLM has no load-time parameters and links no file
        require_valid(spec, KIND)
        glm = spec.glmClassifier
        weights = np.array([row.value for row in glm.weights], dtype=np.float64)
        inputs = Vectorizer.of(spec.description, KIND)
        inputs.check_width(weights.shape[1], "its weight rows hold")
        labels = class_labels(glm)
        return cls(
            inputs,
            weights,
            np.asarray(glm.offset, dtype=np.float64),
            glm.postEvaluationTransform == _GLM.Probit,
            glm.classEncoding == _GLM.ReferenceClass,
            ClassOutputs.of(spec, labels, KIND),
        )

    def probabilities(self, rows: NDArray[np.float64]) -> NDArray[np.float64]:
        """``(N, D)`` vectorized inputs -> ``(N, K)`` class probabilities (module docstring)."""
        if rows.shape[1] != self.weights.shape[1]:
            raise FeatureError(
                f"{KIND}: the inputs hold {rows.shape[1]} values per example; its weight rows "
                f"hold {self.weights.shape[1]}"
            )
        scores = rows @ self.weights.T + self.offsets
        link = probit if self.probit else logistic
        if len(self.outputs.labels) == 2:
            positive = link(scores[:, 0])
            return np.stack([1.0 - positive, positive], axis=1)
        if self.reference_class:
            return softmax(np.concatenate([np.zeros((len(rows), 1)), scores], axis=1))
        each = link(scores)
        return each / each.sum(axis=1, keepdims=True)

    def run(self, batch: dict) -> dict:
        """Feature batch in, the label and probabilities out."""
        return self.outputs.write(self.probabilities(self.inputs.rows(batch)))
