"""Runtime, model layer: the engine of ``supportVectorClassifier`` models (libsvm's C-SVC and
nu-SVC, one-vs-one).

With the inputs vectorized into ``x`` (``values``) and the kernel values ``k_m = K(x, s_m)``
(``svm_kernels``), every pair of classes ``i < j`` (libsvm's order) has the decision value

    d_ij = sum_{m in class i} alpha[j-1][m] k_m + sum_{m in class j} alpha[i][m] k_m - rho_ij

where the support vectors are grouped by class (``numberOfSupportVectorsPerClass``) and
``alpha`` holds the K - 1 coefficient rows (``SVM.proto``, libsvm's ``sv_coef``). The pair
votes for ``i`` when ``d_ij > 0``, else for ``j``; the label is the class with the most votes,
the first in label order on a tie (libsvm's ``svm_predict``).

The probabilities, when the description asks for them, come from ``probA`` / ``probB`` by
libsvm's pairwise coupling (``svm_kernels``). The label stays the vote's: Core ML does not say
whether a model with probabilities labels by them, and the vote is what libsvm's plain
prediction and scikit-learn's ``predict`` give (the two differ only near a tie).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from runtime.model.engines.classes import ClassOutputs, class_labels
from runtime.model.engines.svm_kernels import (
    Kernel,
    coupled,
    fitted,
    pairwise_probabilities,
    support_vectors,
)
from runtime.model.engines.values import Vectorizer, require_valid
from updatable.errors import UnsupportedModelError, ValidationError

KIND = "supportVectorClassifier"


@dataclass(frozen=True)
class SvmClassifierEngine:
    """A compiled one-vs-one SVM classifier."""

    inputs: Vectorizer
    kernel: Kernel
    vectors: NDArray[np.float64]  # (S, W) grouped by class
    sparse: bool
    starts: tuple[int, ...]  # the first support vector of each class, and the total
    alphas: NDArray[np.float64]  # (K - 1, S)
    rho: NDArray[np.float64]  # (K(K-1)/2,)
    prob_a: NDArray[np.float64]
    prob_b: NDArray[np.float64]
    outputs: ClassOutputs

    @classmethod
    def compile(cls, spec, *, parameters=None, base_dir=None) -> SvmClassifierEngine:
        """Read a ``supportVectorClassifier`` that Core ML accepts (rules SV1-SV9).

        Raises:
            ValidationError: Core ML rejects the model, the support vectors do not fit the
                inputs, or ``rho`` does not hold one value per pair of classes.
            UnsupportedModelError: probabilities asked for without ``probA`` / ``probB``, or
                an output the classifier does not produce.
        """
        del parameters, base_dir  # an SVM has no load-time parameters and links no file
        require_valid(spec, KIND)
        svm = spec.supportVectorClassifier
        labels = class_labels(svm)
        outputs = ClassOutputs.of(spec, labels, KIND)
        pairs = len(labels) * (len(labels) - 1) // 2
        if len(svm.rho) != pairs:
            raise ValidationError(
                f"{KIND}: rho holds {len(svm.rho)} values; {len(labels)} classes make {pairs} pairs"
            )
        if any(count < 0 for count in svm.numberOfSupportVectorsPerClass):
            raise ValidationError(
                f"{KIND}: numberOfSupportVectorsPerClass holds a negative count: "
                f"{list(svm.numberOfSupportVectorsPerClass)}"
            )
        if outputs.probabilities_name and not len(svm.probA):
            raise UnsupportedModelError(
                f"{KIND}: the description asks for probabilities "
                f"('{outputs.probabilities_name}'), but the model has no probA / probB to "
                "compute them from (train it with probability estimates)"
            )
        inputs = Vectorizer.of(spec.description, KIND)
        return cls(
            inputs,
            Kernel.of(svm.kernel),
            support_vectors(svm, inputs.width, KIND),
            svm.WhichOneof("supportVectors") == "sparseSupportVectors",
            tuple(np.cumsum([0, *svm.numberOfSupportVectorsPerClass]).tolist()),
            np.array([row.alpha for row in svm.coefficients], dtype=np.float64).reshape(
                len(labels) - 1, -1
            ),
            np.asarray(svm.rho, dtype=np.float64),
            np.asarray(svm.probA, dtype=np.float64),
            np.asarray(svm.probB, dtype=np.float64),
            outputs,
        )

    def decisions(self, rows: NDArray[np.float64]) -> NDArray[np.float64]:
        """``(N, K(K-1)/2)`` decision values ``d_ij`` in libsvm's pair order (infinite kernel
        values give infinite or NaN decisions, quietly)."""
        with np.errstate(invalid="ignore", over="ignore"):
            return self._decisions(rows)

    def _decisions(self, rows):
        kernel = self.kernel.matrix(
            fitted(rows, self.vectors, sparse=self.sparse, kind=KIND), self.vectors
        )
        start, classes = self.starts, len(self.starts) - 1
        values = []
        for i in range(classes):
            for j in range(i + 1, classes):
                mine = (
                    kernel[:, start[i] : start[i + 1]] @ self.alphas[j - 1, start[i] : start[i + 1]]
                )
                theirs = (
                    kernel[:, start[j] : start[j + 1]] @ self.alphas[i, start[j] : start[j + 1]]
                )
                values.append(mine + theirs - self.rho[len(values)])
        return np.stack(values, axis=1) if values else np.zeros((len(rows), 0))

    def run(self, batch: dict) -> dict:
        """Feature batch in, the label (by vote) and the probabilities out."""
        decisions = self.decisions(self.inputs.rows(batch))
        classes = len(self.outputs.labels)
        winners, losers = np.triu_indices(classes, k=1)
        votes = np.zeros((len(decisions), classes), dtype=np.int64)
        positive = decisions > 0
        # numpy's stubs do not take a (slice, array) index in ufunc.at; numpy does
        np.add.at(votes, (slice(None), winners), positive.astype(np.int64))  # type: ignore[arg-type]
        np.add.at(votes, (slice(None), losers), (~positive).astype(np.int64))  # type: ignore[arg-type]
        chosen = np.argmax(votes, axis=1)  # the first class with the most votes
        probabilities = np.zeros((len(decisions), classes))
        if self.outputs.probabilities_name:
            pairs = pairwise_probabilities(decisions, self.prob_a, self.prob_b, classes)
            probabilities = coupled(pairs)
        return self.outputs.write(probabilities, chosen)
